//! A small POSIX extended regular expression matcher, for depmod.d's kernel version patterns.
//!
//! `override` and `external` lines in depmod.d name the kernels they apply to with a POSIX
//! extended regular expression (ERE), which kmod hands to the C library's `regcomp` and
//! `regexec` and matches *anywhere* in the kernel version (the pattern is not anchored). The
//! single pattern `*` is special-cased to mean "every kernel" before any of this.
//!
//! Supported, as glibc reads an ERE: literals, `.`, `^`, `$`, bracket expressions with ranges,
//! negation and the `[:class:]`, `[=c=]`, `[.c.]` forms, groups `( )`, alternation `|` (empty
//! alternatives allowed), and the repetitions `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}`, `{,n}`.
//! A pattern glibc rejects (a repetition with nothing to repeat, an unclosed `(` or `[`, a bad
//! interval, an unknown class, a trailing backslash) fails to compile, and kmod then treats
//! the line as not matching: so does [`matches()`]. A `)` without a `(` is an ordinary
//! character, as in glibc.
//!
//! Matching backtracks over the parsed pattern with a step budget ([`MAX_STEPS`]); a pattern
//! that exhausts it is treated as not matching. Patterns come from root-owned configuration
//! and subjects are kernel release strings, so the budget is never reached in practice.

use std::cell::Cell;

/// The most backtracking steps one match may take before giving up (as "no match").
pub const MAX_STEPS: usize = 1_000_000;
/// The deepest group nesting accepted when parsing.
const MAX_NESTING: usize = 64;
/// The largest repetition count (glibc's `RE_DUP_MAX`).
const DUP_MAX: u32 = 0x7fff;

#[derive(Debug, Clone)]
enum Node {
    Byte(u8),
    Any,
    Bol,
    Eol,
    Set(Box<[bool; 256]>),
    Group(Vec<Vec<Node>>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// Whether the POSIX extended regular expression `pattern` matches anywhere in `subject`.
/// A pattern that does not compile matches nothing.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let Some(branches) = parse(pattern) else {
        return false;
    };
    let matcher = Matcher {
        subject,
        budget: Cell::new(MAX_STEPS),
    };
    (0..=subject.len()).any(|start| matcher.alternatives(&branches, start, &|_| true))
}

fn parse(pattern: &[u8]) -> Option<Vec<Vec<Node>>> {
    let mut parser = Parser { pattern, pos: 0 };
    let branches = parser.alternatives(0)?;
    // Only a stray `)` can stop the top level early, and it is ordinary there; the parser
    // treats it so itself, so anything left over means a parse error.
    (parser.pos == pattern.len()).then_some(branches)
}

struct Parser<'p> {
    pattern: &'p [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.pattern.get(self.pos).copied()
    }

    fn alternatives(&mut self, depth: usize) -> Option<Vec<Vec<Node>>> {
        if depth > MAX_NESTING {
            return None;
        }
        let mut branches = vec![self.branch(depth)?];
        while self.peek() == Some(b'|') {
            self.pos += 1;
            branches.push(self.branch(depth)?);
        }
        Some(branches)
    }

    fn branch(&mut self, depth: usize) -> Option<Vec<Node>> {
        let mut nodes: Vec<Node> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Some(nodes);
            };
            match c {
                b'|' => return Some(nodes),
                b')' if depth > 0 => return Some(nodes),
                b'*' | b'+' | b'?' | b'{' => {
                    // A repetition needs something repeatable before it in this branch.
                    let last = nodes.pop()?;
                    if matches!(last, Node::Bol | Node::Eol) {
                        return None;
                    }
                    let (min, max) = self.repetition()?;
                    nodes.push(Node::Repeat {
                        node: Box::new(last),
                        min,
                        max,
                    });
                }
                _ => {
                    self.pos += 1;
                    let node = match c {
                        b'.' => Node::Any,
                        b'^' => Node::Bol,
                        b'$' => Node::Eol,
                        b'[' => self.bracket()?,
                        b'(' => {
                            let inner = self.alternatives(depth + 1)?;
                            if self.peek() != Some(b')') {
                                return None;
                            }
                            self.pos += 1;
                            Node::Group(inner)
                        }
                        b'\\' => {
                            let escaped = self.peek()?;
                            self.pos += 1;
                            Node::Byte(escaped)
                        }
                        other => Node::Byte(other),
                    };
                    nodes.push(node);
                }
            }
        }
    }

    fn number(&mut self) -> Option<Option<u32>> {
        let start = self.pos;
        let mut value: u32 = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            value = value.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Some(None);
        }
        (value <= DUP_MAX).then_some(Some(value))
    }

    fn repetition(&mut self) -> Option<(u32, Option<u32>)> {
        let c = self.peek()?;
        self.pos += 1;
        match c {
            b'*' => Some((0, None)),
            b'+' => Some((1, None)),
            b'?' => Some((0, Some(1))),
            _ => {
                let min = self.number()?;
                let (min, max) = if self.peek() == Some(b',') {
                    self.pos += 1;
                    (min.unwrap_or(0), self.number()?)
                } else {
                    let exact = min?;
                    (exact, Some(exact))
                };
                if self.peek() != Some(b'}') {
                    return None;
                }
                self.pos += 1;
                if max.is_some_and(|max| max < min) {
                    return None;
                }
                Some((min, max))
            }
        }
    }

    fn bracket(&mut self) -> Option<Node> {
        let mut set = Box::new([false; 256]);
        let negate = self.peek() == Some(b'^');
        if negate {
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek()?;
            if c == b']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            let low = self.bracket_element(&mut set)?;
            let Some(low) = low else {
                continue;
            };
            // A range `a-z`, unless the `-` is the last thing before `]`.
            if self.peek() == Some(b'-') && self.pattern.get(self.pos + 1) != Some(&b']') {
                // A `-` at the very end leaves the bracket unclosed.
                self.pattern.get(self.pos + 1)?;
                self.pos += 1;
                let high = self.bracket_element(&mut set)?;
                let high = high?;
                if high < low {
                    return None;
                }
                for b in low..=high {
                    if let Some(slot) = set.get_mut(usize::from(b)) {
                        *slot = true;
                    }
                }
            } else if let Some(slot) = set.get_mut(usize::from(low)) {
                *slot = true;
            }
        }
        if negate {
            for slot in set.iter_mut() {
                *slot = !*slot;
            }
        }
        Some(Node::Set(set))
    }

    /// One element of a bracket expression: a character (returned, so it can start a range)
    /// or a `[:class:]` (added to `set`, returns `Some(None)`).
    fn bracket_element(&mut self, set: &mut [bool; 256]) -> Option<Option<u8>> {
        let c = self.peek()?;
        self.pos += 1;
        if c != b'[' {
            return Some(Some(c));
        }
        let kind = self.peek();
        if !matches!(kind, Some(b':') | Some(b'=') | Some(b'.')) {
            return Some(Some(b'['));
        }
        let kind = kind?;
        self.pos += 1;
        let start = self.pos;
        loop {
            let here = self.peek()?;
            if here == kind && self.pattern.get(self.pos + 1) == Some(&b']') {
                break;
            }
            self.pos += 1;
        }
        let name = self.pattern.get(start..self.pos)?;
        self.pos += 2;
        if kind == b':' {
            let test: fn(&u8) -> bool = match name {
                b"alpha" => u8::is_ascii_alphabetic,
                b"digit" => u8::is_ascii_digit,
                b"alnum" => u8::is_ascii_alphanumeric,
                b"upper" => u8::is_ascii_uppercase,
                b"lower" => u8::is_ascii_lowercase,
                b"space" => |b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
                b"blank" => |b| matches!(b, b' ' | b'\t'),
                b"punct" => u8::is_ascii_punctuation,
                b"print" => |b| (0x20..0x7f).contains(b),
                b"graph" => u8::is_ascii_graphic,
                b"cntrl" => u8::is_ascii_control,
                b"xdigit" => u8::is_ascii_hexdigit,
                _ => return None,
            };
            for (b, slot) in (0u8..=255).zip(set.iter_mut()) {
                if test(&b) {
                    *slot = true;
                }
            }
            return Some(None);
        }
        // `[=c=]` and `[.c.]`: single characters only (the C locale).
        match name {
            [single] => Some(Some(*single)),
            _ => None,
        }
    }
}

struct Matcher<'s> {
    subject: &'s [u8],
    budget: Cell<usize>,
}

impl Matcher<'_> {
    /// Takes one step from the budget; false once it is spent (the match then fails).
    fn step(&self) -> bool {
        let left = self.budget.get();
        if left == 0 {
            return false;
        }
        self.budget.set(left - 1);
        true
    }

    fn alternatives(&self, branches: &[Vec<Node>], pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
        branches.iter().any(|branch| self.sequence(branch, pos, k))
    }

    fn sequence(&self, nodes: &[Node], pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
        if !self.step() {
            return false;
        }
        match nodes.split_first() {
            None => k(pos),
            Some((first, rest)) => self.node(first, pos, &|next| self.sequence(rest, next, k)),
        }
    }

    fn node(&self, node: &Node, pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
        if !self.step() {
            return false;
        }
        let here = self.subject.get(pos).copied();
        match node {
            Node::Byte(b) => here == Some(*b) && k(pos + 1),
            Node::Any => here.is_some() && k(pos + 1),
            Node::Set(set) => {
                here.is_some_and(|c| set.get(usize::from(c)).copied().unwrap_or(false))
                    && k(pos + 1)
            }
            Node::Bol => pos == 0 && k(pos),
            Node::Eol => pos == self.subject.len() && k(pos),
            Node::Group(branches) => self.alternatives(branches, pos, k),
            Node::Repeat { node, min, max } => self.repeat(node, *min, *max, 0, pos, k),
        }
    }

    /// `node` repeated between `min` and `max` times, `done` of them matched already: greedy,
    /// trying one more iteration before the continuation.
    fn repeat(
        &self,
        node: &Node,
        min: u32,
        max: Option<u32>,
        done: u32,
        pos: usize,
        k: &dyn Fn(usize) -> bool,
    ) -> bool {
        if !self.step() {
            return false;
        }
        if max.map_or(true, |max| done < max) {
            let more = self.node(node, pos, &|next| {
                if next == pos {
                    // An iteration that consumes nothing can be repeated to satisfy any
                    // minimum; looping on it would never end.
                    return k(pos);
                }
                self.repeat(node, min, max, done.saturating_add(1), next, k)
            });
            if more {
                return true;
            }
        }
        done >= min && k(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected results from glibc's `regcomp(REG_EXTENDED | REG_NOSUB)` + `regexec`, which
    /// kmod's depmod uses; `false` for patterns glibc refuses to compile.
    #[test]
    fn agrees_with_glibc() {
        let kver = b"6.1.0-47-amd64";
        let cases: &[(&str, bool)] = &[
            ("*", false), // kmod special-cases the exact pattern "*" before compiling
            ("6.1.*", true),
            ("*amd64", false),
            ("a{", false),
            ("a{1", false),
            ("6{1,2}", true),
            ("(", false),
            (")", false),
            ("x|", true),
            ("|x", true),
            ("[", false),
            ("]", false),
            ("amd64$", true),
            ("^6", true),
            ("^5", false),
            ("()", true),
            ("a**", true),
            ("6.1+", true),
            ("[[:digit:]]+", true),
            ("[^0-9]", true),
            ("x?", true),
            ("+6", false),
            ("^6\\.1\\.0-47-amd64$", true),
            ("^6\\.2", false),
            ("-(47|48)-", true),
            ("-(46|48)-", false),
            ("^(5|6)\\.[0-9]+\\.", true),
            ("amd64|arm64", true),
            ("[[:alpha:]]{3}", true),
            ("[[:alpha:]]{4}", false),
            ("[[:foo:]]", false),
            ("[z-a]", false),
            ("a{2,1}", false),
        ];
        for (pattern, expected) in cases {
            assert_eq!(matches(pattern.as_bytes(), kver), *expected, "{pattern}");
        }
        let other = b"a]b-c";
        let cases: &[(&str, bool)] = &[
            ("^*", false),
            ("a|*b", false),
            ("(*a)", false),
            ("a{,2}", true),
            ("a{1}{2}", false),
            ("[]a]", true),
            ("[a-]", true),
            ("a\\", false),
            ("()*", true),
            ("(|a)+", true),
            ("a{1,}", true),
            ("[[.a.]]", true),
            ("[[=a=]]", true),
            ("b-c", true),
            ("$*", false),
            ("a?*", true),
            ("{1}", false),
            ("^{", false),
            ("\\{", false),
        ];
        for (pattern, expected) in cases {
            assert_eq!(matches(pattern.as_bytes(), other), *expected, "{pattern}");
        }
    }

    #[test]
    fn pathological_patterns_stop() {
        let pattern = b"(a*)*(a*)*(a*)*(a*)*b";
        let subject = [b'a'; 64];
        assert!(!matches(pattern, &subject));
    }
}
