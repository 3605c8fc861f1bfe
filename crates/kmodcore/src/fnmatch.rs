//! Shell wildcard matching with the exact byte semantics of glibc's `fnmatch(pattern, text, 0)`.
//!
//! kmod matches module alias patterns (`pci:v00008086d*sv*`) against device modalias strings
//! with glibc's `fnmatch` and no flags, in the C locale (the kmod tools never call
//! `setlocale`). The configuration files use the same matching for `alias`, `softdep`,
//! `options` and `blacklist` lines. No crate reproduces glibc's behaviour byte for byte: its
//! handling of malformed bracket expressions is idiosyncratic (an unterminated `[` is usually a
//! literal, but `[a-` never matches; a bracket that has matched is then skipped with a slightly
//! different tokenizer), and a glob or regex crate would either reject such patterns or read
//! them differently. So it is hand-written here, and tested against glibc itself.
//!
//! What is supported, as glibc does with no flags:
//! - `*` matches any run of bytes (including `/` and a leading `.`), `?` any one byte;
//! - `\x` matches `x` literally; a trailing lone `\` makes the pattern match nothing;
//! - bracket expressions `[abc]`, ranges `[a-z]` (byte order, as in the C locale), negation
//!   with `!` or `^`, a `]` first in the set is literal, `\` escapes inside brackets, the
//!   classes `[:alpha:]` and friends, one-character collating symbols `[.x.]` and equivalence
//!   classes `[=x=]`;
//! - a `[` with no closing `]` matches a literal `[`.
//!
//! Matching follows glibc's strategy: after each `*`, the positions of the text are tried in
//! order until the pattern segment up to the next `*` matches, and that choice is kept. Only
//! the latest star is ever backtracked, so a match costs at most
//! O(pattern length × text length) steps, never exponential time.
//!
//! Both strings end at their first NUL byte, as C strings do. The environment variable
//! `POSIXLY_CORRECT` (which makes glibc read `[^...]` literally) is not consulted: `^` always
//! negates.

/// glibc gives up on a character class name this long (its internal `CHARCLASS_NAME_MAX`;
/// the boundary was confirmed against glibc 2.36).
const CLASS_NAME_MAX: usize = 2048;

/// Whether `text` matches the shell wildcard `pattern`, as glibc's `fnmatch(pattern, text, 0)
/// == 0` decides in the C locale.
///
/// ```
/// use kmodcore::fnmatch::fnmatch;
/// assert!(fnmatch(b"pci:v00008086d*sv*", b"pci:v00008086d000010D3sv00008086"));
/// assert!(fnmatch(b"usb:v[0-9]*", b"usb:v5"));
/// assert!(!fnmatch(b"a?c", b"ac"));
/// ```
pub fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    // Most patterns in modprobe.d are plain names (`softdep ext4 ...`), tried against every
    // module of a run. A pattern that starts with a plain byte needs the text to start with it,
    // and without any special byte it matches only the same bytes.
    let special = |b: u8| matches!(b, b'*' | b'?' | b'[' | b'\\' | 0);
    if let Some(&first) = pattern.first() {
        if !special(first) && text.first() != Some(&first) {
            return false;
        }
    }
    if !pattern.iter().any(|&b| special(b)) {
        return until_nul(text) == pattern;
    }
    let pattern = Bytes::new(pattern);
    let text = until_nul(text);

    let mut p = 0;
    let mut t = 0;
    loop {
        // A segment of the pattern with no star before it: it must match here.
        match segment(&pattern, p, text, t) {
            Segment::Matched => return true,
            Segment::Failed => return false,
            Segment::Star(star_p, star_t) => {
                p = star_p;
                t = star_t;
            }
        }
        // `p` is at a star. Consume the run of stars and question marks.
        let mut n = t;
        loop {
            match pattern.at(p) {
                b'*' => p += 1,
                b'?' => {
                    if n >= text.len() {
                        return false;
                    }
                    p += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        let first = pattern.at(p);
        if first == 0 {
            // Trailing star: it takes the rest of the text.
            return true;
        }
        // The segment after the star starts with a plain byte: only positions holding that
        // byte can begin a match. (An escaped byte counts; a lone trailing `\` matches
        // nothing.)
        let needed = match first {
            b'[' => None,
            b'\\' => Some(pattern.at(p + 1)),
            other => Some(other),
        };
        let mut committed = None;
        while n < text.len() {
            let candidate = needed.map_or(true, |b| text.get(n) == Some(&b));
            if candidate {
                match segment(&pattern, p, text, n) {
                    Segment::Matched => return true,
                    Segment::Failed => {}
                    Segment::Star(sp, st) => {
                        committed = Some((sp, st));
                        break;
                    }
                }
            }
            n += 1;
        }
        match committed {
            // glibc keeps the first position that reaches the next star and never revisits
            // this one.
            Some((sp, st)) => {
                p = sp;
                t = st;
            }
            None => return false,
        }
    }
}

/// Whether `s` contains one of the bytes that make kmod's index reader treat a key as a
/// pattern: `*`, `?` or `[`.
///
/// This is the test kmod's `index_searchwild` applies to each stored key character. A
/// backslash alone does not make a key a pattern.
pub fn has_wildcard(s: &[u8]) -> bool {
    s.iter().any(|&b| is_wildcard_byte(b))
}

/// Whether `b` starts a wildcard for kmod's index reader (`*`, `?` or `[`).
pub(crate) fn is_wildcard_byte(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[')
}

/// How far a star-free run of the pattern got.
enum Segment {
    /// The pattern ended exactly where the text did.
    Matched,
    /// A byte did not match, or one string ended before the other.
    Failed,
    /// A star was reached at this pattern index, with this much text consumed.
    Star(usize, usize),
}

/// Matches the pattern from index `p` against the text from `t`, up to the next star or the
/// end of the pattern.
fn segment(pattern: &Bytes<'_>, mut p: usize, text: &[u8], mut t: usize) -> Segment {
    loop {
        let c = pattern.at(p);
        if c == 0 {
            return if t >= text.len() {
                Segment::Matched
            } else {
                Segment::Failed
            };
        }
        if c == b'*' {
            return Segment::Star(p, t);
        }
        let Some(&ch) = text.get(t) else {
            return Segment::Failed;
        };
        match c {
            b'?' => p += 1,
            b'\\' => {
                let escaped = pattern.at(p + 1);
                if escaped == 0 || escaped != ch {
                    return Segment::Failed;
                }
                p += 2;
            }
            b'[' => match bracket(pattern, p + 1, ch) {
                Bracket::Matched(next) => p = next,
                Bracket::NoMatch => return Segment::Failed,
                Bracket::Literal => {
                    if ch != b'[' {
                        return Segment::Failed;
                    }
                    p += 1;
                }
            },
            literal => {
                if literal != ch {
                    return Segment::Failed;
                }
                p += 1;
            }
        }
        t += 1;
    }
}

/// The outcome of a bracket expression against one text byte.
enum Bracket {
    /// The byte is in the set; the pattern continues at this index (after the `]`).
    Matched(usize),
    /// The byte is not in the set, or the expression is malformed in a way glibc rejects.
    NoMatch,
    /// There is no closing `]`: the `[` is an ordinary byte.
    Literal,
}

/// Evaluates the bracket expression whose `[` is just before index `start` against `ch`,
/// walking it item by item as glibc does (so a malformed tail after a matching item is
/// treated exactly as glibc treats it).
///
/// Long on purpose: one loop over the items of the expression (classes, equivalence classes,
/// collating symbols, ranges), a state machine kept whole so it can be read against glibc's.
fn bracket(pattern: &Bytes<'_>, start: usize, ch: u8) -> Bracket {
    let mut i = start;
    let negated = matches!(pattern.at(i), b'!' | b'^');
    if negated {
        i += 1;
    }
    // The first byte is always an item, even `]`.
    let mut c = pattern.at(i);
    i += 1;
    let matched_at = loop {
        // `c` is the first byte of the current item and `i` indexes the byte after it. Each
        // item either decides the match or leaves the next item's first byte in `c`.
        let single = if c == b'\\' {
            let escaped = pattern.at(i);
            if escaped == 0 {
                return Bracket::NoMatch;
            }
            i += 1;
            Some((escaped, false))
        } else if c == b'[' && pattern.at(i) == b':' {
            match class_item(pattern, i) {
                ClassItem::Class(class, end) => {
                    if class.contains(ch) {
                        break end;
                    }
                    i = end;
                    None
                }
                ClassItem::NotAName => Some((b'[', false)),
                ClassItem::Invalid => return Bracket::NoMatch,
            }
        } else if c == b'[' && pattern.at(i) == b'=' {
            let sym = pattern.at(i + 1);
            if sym != 0 && pattern.at(i + 2) == b'=' && pattern.at(i + 3) == b']' {
                let end = i + 4;
                if ch == sym {
                    break end;
                }
                i = end;
                None
            } else {
                Some((b'[', false))
            }
        } else if c == 0 {
            return Bracket::Literal;
        } else if c == b'[' && pattern.at(i) == b'.' {
            let Some((sym, end)) = collating_symbol(pattern, i) else {
                return Bracket::NoMatch;
            };
            i = end;
            Some((sym, true))
        } else {
            Some((c, false))
        };

        if let Some((low, collating)) = single {
            // A single byte, possibly the low end of a range `low-high`. glibc's test for a
            // range differs slightly after a collating symbol.
            let next = pattern.at(i + 1);
            let is_range = pattern.at(i) == b'-' && next != 0 && (collating || next != b']');
            if !is_range && low == ch {
                break i;
            }
            c = pattern.at(i);
            i += 1;
            if c == b'-' && pattern.at(i) != b']' {
                let mut high = pattern.at(i);
                i += 1;
                if high == b'[' && pattern.at(i) == b'.' {
                    let Some((sym, end)) = collating_symbol(pattern, i) else {
                        return Bracket::NoMatch;
                    };
                    high = sym;
                    i = end;
                } else {
                    if high == b'\\' {
                        high = pattern.at(i);
                        i += 1;
                    }
                    if high == 0 {
                        return Bracket::NoMatch;
                    }
                }
                if low <= ch && ch <= high {
                    break i;
                }
                c = pattern.at(i);
                i += 1;
            }
        } else {
            c = pattern.at(i);
            i += 1;
        }
        if c == b']' {
            // End of the set and nothing matched.
            return if negated {
                Bracket::Matched(i)
            } else {
                Bracket::NoMatch
            };
        }
    };
    match skip_rest(pattern, matched_at) {
        Skip::End(next) if !negated => Bracket::Matched(next),
        Skip::End(_) | Skip::Malformed => Bracket::NoMatch,
        Skip::Unterminated => Bracket::Literal,
    }
}

/// How the rest of a bracket expression ends, after one of its items matched.
enum Skip {
    /// At a `]`; the pattern continues at this index.
    End(usize),
    /// The pattern ended first: the opening `[` was an ordinary byte after all.
    Unterminated,
    /// A malformed item on the way, on which glibc fails the match.
    Malformed,
}

/// Skips the rest of a bracket expression after an item matched, from index `i`, with the
/// simpler tokenizer glibc uses for that.
fn skip_rest(pattern: &Bytes<'_>, mut i: usize) -> Skip {
    loop {
        let c = pattern.at(i);
        i += 1;
        match c {
            b']' => return Skip::End(i),
            0 => return Skip::Unterminated,
            b'\\' => {
                if pattern.at(i) == 0 {
                    return Skip::Malformed;
                }
                i += 1;
            }
            b'[' if pattern.at(i) == b':' => {
                // Skip `[:name:]` if it looks like one; otherwise the `[` was ordinary.
                let mut j = i;
                let mut len = 0;
                loop {
                    j += 1;
                    len += 1;
                    if len == CLASS_NAME_MAX {
                        return Skip::Malformed;
                    }
                    if pattern.at(j) == b':' && pattern.at(j + 1) == b']' {
                        i = j + 2;
                        break;
                    }
                    let b = pattern.at(j);
                    if !(b'a'..=b'y').contains(&b) {
                        break;
                    }
                }
            }
            b'[' if pattern.at(i) == b'=' => {
                if pattern.at(i + 1) == 0 {
                    return Skip::Malformed;
                }
                if pattern.at(i + 2) != b'=' || pattern.at(i + 3) != b']' {
                    return Skip::Malformed;
                }
                i += 4;
            }
            b'[' if pattern.at(i) == b'.' => {
                let mut j = i;
                loop {
                    j += 1;
                    match pattern.at(j) {
                        0 => return Skip::Malformed,
                        b'.' if pattern.at(j + 1) == b']' => break,
                        _ => {}
                    }
                }
                i = j + 2;
            }
            _ => {}
        }
    }
}

/// What follows `[:` inside a bracket expression.
enum ClassItem {
    /// A known class, and the index after its closing `:]`.
    Class(Class, usize),
    /// Not shaped like a class name: the `[` is an ordinary byte.
    NotAName,
    /// Shaped like a class name but unknown or too long: glibc fails the match.
    Invalid,
}

/// Reads `[:name:]` where index `colon` holds the `:` after `[`.
fn class_item(pattern: &Bytes<'_>, colon: usize) -> ClassItem {
    let mut j = colon;
    let mut name_len = 0;
    loop {
        if name_len == CLASS_NAME_MAX {
            return ClassItem::Invalid;
        }
        j += 1;
        let b = pattern.at(j);
        if b == b':' && pattern.at(j + 1) == b']' {
            break;
        }
        // glibc's test excludes `z` itself (no class name contains it).
        if !(b'a'..=b'y').contains(&b) {
            return ClassItem::NotAName;
        }
        name_len += 1;
    }
    let name = pattern.slice(colon + 1, colon + 1 + name_len);
    match Class::from_name(name) {
        Some(class) => ClassItem::Class(class, j + 2),
        None => ClassItem::Invalid,
    }
}

/// Reads a collating symbol `[.x.]` where index `dot` holds the `.` after `[`. Returns its
/// byte and the index after `.]`; `None` when it is unterminated or longer than one byte (the C
/// locale names no multi-byte collating elements).
fn collating_symbol(pattern: &Bytes<'_>, dot: usize) -> Option<(u8, usize)> {
    let mut j = dot;
    let mut len = 0usize;
    loop {
        j += 1;
        let b = pattern.at(j);
        if b == b'.' && pattern.at(j + 1) == b']' {
            break;
        }
        if b == 0 {
            return None;
        }
        len += 1;
    }
    if len != 1 {
        return None;
    }
    Some((pattern.at(dot + 1), j + 2))
}

/// A POSIX character class, as the C locale defines it (ASCII only).
#[derive(Clone, Copy)]
enum Class {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Class {
    fn from_name(name: &[u8]) -> Option<Class> {
        Some(match name {
            b"alnum" => Class::Alnum,
            b"alpha" => Class::Alpha,
            b"blank" => Class::Blank,
            b"cntrl" => Class::Cntrl,
            b"digit" => Class::Digit,
            b"graph" => Class::Graph,
            b"lower" => Class::Lower,
            b"print" => Class::Print,
            b"punct" => Class::Punct,
            b"space" => Class::Space,
            b"upper" => Class::Upper,
            b"xdigit" => Class::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, b: u8) -> bool {
        match self {
            Class::Alnum => b.is_ascii_alphanumeric(),
            Class::Alpha => b.is_ascii_alphabetic(),
            Class::Blank => b == b' ' || b == b'\t',
            Class::Cntrl => b.is_ascii_control(),
            Class::Digit => b.is_ascii_digit(),
            Class::Graph => b.is_ascii_graphic(),
            Class::Lower => b.is_ascii_lowercase(),
            Class::Print => b.is_ascii_graphic() || b == b' ',
            Class::Punct => b.is_ascii_punctuation(),
            // C's isspace includes the vertical tab, which Rust's is_ascii_whitespace omits.
            Class::Space => matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
            Class::Upper => b.is_ascii_uppercase(),
            Class::Xdigit => b.is_ascii_hexdigit(),
        }
    }
}

/// A byte string read as a C string: reading at or past its end (or first NUL) gives 0.
struct Bytes<'a> {
    bytes: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Bytes {
            bytes: until_nul(bytes),
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.bytes.get(from..to).unwrap_or_default()
    }
}

/// The part of `s` before its first NUL byte.
fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(end) => s.get(..end).unwrap_or_default(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, text, glibc's verdict). The verdicts were captured from glibc 2.36 (Debian 12)
    /// by a small C program calling `fnmatch(pattern, text, 0)` in the C locale. The first
    /// rows are chosen edge cases; the rest are samples from random differential runs
    /// (about 1.7 million random and real-alias pairs agreed with glibc when this was written).
    #[rustfmt::skip]
    const GLIBC_CASES: &[(&[u8], &[u8], bool)] = &[
        (b"", b"", true),
        (b"", b"a", false),
        (b"a", b"", false),
        (b"*", b"", true),
        (b"*", b"abc", true),
        (b"?", b"", false),
        (b"?", b"a", true),
        (b"?", b"ab", false),
        (b"??", b"ab", true),
        (b"a*", b"a", true),
        (b"a*", b"abc", true),
        (b"*c", b"abc", true),
        (b"*c", b"abd", false),
        (b"a*c", b"ac", true),
        (b"a*c", b"abbc", true),
        (b"a*b*c", b"aXbYc", true),
        (b"a*b*c", b"acb", false),
        (b"*a*", b"bab", true),
        (b"**", b"x", true),
        (b"*?", b"", false),
        (b"*?", b"x", true),
        (b"*?*?*", b"x", false),
        (b"*?*?*", b"xy", true),
        (b"a?c", b"ac", false),
        (b"a?c", b"abc", true),
        (b"*.ko", b"foo.ko", true),
        (b".*", b".hidden", true),
        (b"*", b".hidden", true),
        (b"*/x", b"a/b/x", true),
        (b"a/*", b"a/b/c", true),
        (b"\\*", b"*", true),
        (b"\\*", b"a", false),
        (b"\\a", b"a", true),
        (b"a\\", b"a", false),
        (b"a\\", b"a\\", false),
        (b"\\", b"\\", false),
        (b"\\\\", b"\\", true),
        (b"*\\", b"x\\", false),
        (b"*\\x", b"ax", true),
        (b"[abc]", b"b", true),
        (b"[abc]", b"d", false),
        (b"[abc]", b"", false),
        (b"[a-c]", b"b", true),
        (b"[a-c]", b"d", false),
        (b"[c-a]", b"b", false),
        (b"[c-a]", b"c", false),
        (b"[!a-c]", b"d", true),
        (b"[!a-c]", b"b", false),
        (b"[^a]", b"b", true),
        (b"[^a]", b"a", false),
        (b"[]]", b"]", true),
        (b"[]a]", b"a", true),
        (b"[!]]", b"]", false),
        (b"[!]]", b"x", true),
        (b"[]-a]", b"^", true),
        (b"[]-a]", b"b", false),
        (b"[a-]", b"-", true),
        (b"[-a]", b"-", true),
        (b"[a-]]", b"-]", true),
        (b"[]", b"[]", true),
        (b"[]", b"]", false),
        (b"[!]", b"[!]", true),
        (b"[", b"[", true),
        (b"[", b"a", false),
        (b"[a", b"[a", true),
        (b"[a", b"a", false),
        (b"[ab", b"a", false),
        (b"[[", b"[[", true),
        (b"[[a", b"[[a", true),
        (b"x[", b"x[", true),
        (b"*[", b"ab[", true),
        (b"[a-", b"[a-", false),
        (b"[a-", b"a", false),
        (b"[\\]]", b"]", true),
        (b"[\\\\]", b"\\", true),
        (b"[\\", b"[\\", false),
        (b"[a\\-z]", b"-", true),
        (b"[a\\-z]", b"b", false),
        (b"[a-\\z]", b"m", true),
        (b"[[:alpha:]]", b"q", true),
        (b"[[:alpha:]]", b"1", false),
        (b"[[:digit:]]", b"7", true),
        (b"[[:digit:][:upper:]]", b"Q", true),
        (b"[![:digit:]]", b"7", false),
        (b"[![:digit:]]", b"x", true),
        (b"[[:space:]]", b"\x0b", true),
        (b"[[:space:]]", b"\x0a", true),
        (b"[[:blank:]]", b"\x09", true),
        (b"[[:blank:]]", b"\x0a", false),
        (b"[[:cntrl:]]", b"\x7f", true),
        (b"[[:print:]]", b" ", true),
        (b"[[:graph:]]", b" ", false),
        (b"[[:punct:]]", b"_", true),
        (b"[[:xdigit:]]", b"f", true),
        (b"[[:xdigit:]]", b"g", false),
        (b"[[:lower:]]", b"A", false),
        (b"[[:alnum:]]", b"\x80", false),
        (b"[[:alpha:]]", b"\xe9", false),
        (b"[[:foo:]]", b"f", false),
        (b"[[:foo:]]", b"[", false),
        (b"[[:alpha:]", b"a", false),
        (b"[[:alpha:]", b"[[:alpha:]", false),
        (b"[[:Alpha:]]", b"a", false),
        (b"[[:Alpha:]]", b"A", false),
        (b"[[::]]", b":", false),
        (b"[[:a]", b"[", true),
        (b"[[:a]", b"a", true),
        (b"[[.a.]]", b"a", true),
        (b"[[.a.]]", b".", false),
        (b"[[.ab.]]", b"a", false),
        (b"[[.-.]]", b"-", true),
        (b"[[.a.]-c]", b"b", true),
        (b"[a-[.c.]]", b"b", true),
        (b"[[.a.]", b"a", false),
        (b"[[=a=]]", b"a", true),
        (b"[[=a=]]", b"b", false),
        (b"[[=a]", b"=", true),
        (b"[[=a]", b"[", true),
        (b"[[=]", b"[", true),
        (b"[a[=b]", b"[=b]", false),
        (b"pci:v00008086d*sv*sd*bc*sc*i*", b"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00", true),
        (b"pci:v00008086d*sv*sd*bc*sc*i*", b"pci:v00008087d000010D3sv00008086sd0000A01Fbc02sc00i00", false),
        (b"usb:v*p*d*dc*dsc*dp*ic09isc00ip*in*", b"usb:v1D6Bp0002d0601dc09dsc00dp01ic09isc00ip00in00", true),
        (b"acpi*:PNP0C0A:*", b"acpi:PNP0C0A:", true),
        (b"of:N*T*Cmarvell,orion-ehci*", b"of:NehciT(null)Cmarvell,orion-ehci", true),
        (b"platform:[a-z]*", b"platform:serial8250", true),
        (b"snd-card-[0-9]*", b"snd-card-7", true),
        (b"char-major-10-[0-9]*", b"char-major-10-x", false),
        (b"*\xff", b"a\xff", true),
        (b"?", b"\x80", true),
        (b"[\x80-\xff]", b"\x90", true),
        (b"[!a]", b"\xc3", true),
        (b"", b"", true),
        (b"[.[:", b"[.[:", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"[..", b"[..", true),
        (b"", b"", true),
        (b"*a", b"a", true),
        (b"[!a]", b"\xff", true),
        (b"\xff=]", b"\xff=]", true),
        (b"", b"", true),
        (b".\x80a*:", b".\x80a:", true),
        (b"", b"", true),
        (b"!", b"!", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"*", b"", true),
        (b"", b"", true),
        (b"[.", b"[.", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"^", b"^", true),
        (b"*a[==", b"a[==", true),
        (b"", b"", true),
        (b" :]", b" :]", true),
        (b"\xff*a", b"\xffa", true),
        (b"[a-c][.[:foo:]", b"A]^", false),
        (b"[^b]\\", b"", false),
        (b"", b".]9\x0b c", false),
        (b"[=\xff[^b]a*a", b"", false),
        (b"!=[!a]-[:punct:]  ", b"z -zc-", false),
        (b"[a-c]a\\c[", b"", false),
        (b"\\.][:upper:][.-.]", b"\\[ b", false),
        (b"[.a.]\\0[]a][", b"?!]\x09\\*\x0b", false),
        (b"^[!a]", b"  \x0b0", false),
        (b"[!a]![.-.]", b"", false),
        (b"[:space:][:digit:]=].", b"-", false),
        (b":*a[:alpha:]]", b":", false),
        (b"?", b"\x09*", false),
        (b".]\x80[a-][]a]*a[z-a]", b"z", false),
        (b"[:foo:][:upper:]:[\xff", b"c\\\x09", false),
        (b":", b":", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b":\x7f", b":\x7f", true),
        (b"", b"", true),
        (b"*", b"=-0g*%b\x7f/]\x09", true),
        (b"", b"", true),
        (b"\x01", b"\x01", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"\x7f", b"\x7f", true),
        (b"*.", b".", true),
        (b"!.", b"!.", true),
        (b"*", b"", true),
        (b"", b"", true),
        (b"*", b"\x7f=\\\x09\x7f0[\x09!F/ ", true),
        (b"*", b"", true),
        (b"", b"", true),
        (b"b", b"b", true),
        (b"a", b"a", true),
        (b"", b"", true),
        (b":?[\\", b" ^ ", false),
        (b"[:blank:]", b"\x01Fb", false),
        (b"[:xdigit:][", b"]gaFb/=/", false),
        (b"*[=a", b"!F%*-=*\\0", false),
        (b"b[\\a-b][", b"a*]", false),
        (b"[%-/]?[:zz:]", b"]", false),
        (b"[!]]a\\", b"a]aF::\x09", false),
        (b"[:az:]", b"*[", false),
        (b"[==]", b"[==]", false),
        (b"[[:print:]a[=a", b"", false),
        (b"[:cntrl:]", b"", false),
        (b"\x01[]-a][[.a.]-b][\\].", b"\x01F:", false),
        (b"[!]]^", b"[!]]^", false),
        (b"[\\a-b]", b"!\x7f[", false),
        (b"", b"-%]0:g", false),
        (b"", b"", true),
        (b"?", b"]", true),
        (b"", b"", true),
        (b" b\x80z", b" b\x80z", true),
        (b"", b"", true),
        (b"z", b"z", true),
        (b"]z", b"]z", true),
        (b"c", b"c", true),
        (b"", b"", true),
        (b" [=", b" [=", true),
        (b"=.]", b"=.]", true),
        (b"!:][:[:!", b"!:][:[:!", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b".", b".", true),
        (b":].].]*a", b":].].]a", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"", b"", true),
        (b"ba=:].].]z", b"ba=:].].]z", true),
        (b"9", b"9", true),
        (b"[=\x80", b"[=\x80", true),
        (b"!", b"!", true),
        (b"9.][a*[.].][^b]z:", b"\x09[", false),
        (b"[:digit:][", b"!]!\xffA", false),
        (b"[:foo:][z-a]^", b"ac.a9:9\x0b", false),
        (b"-[z-a][[:digit:][a-]", b"\x80b9?", false),
        (b"", b":*b", false),
        (b". :.][=b=]^", b"\\9\xff", false),
        (b"[]a]9[z-a]", b"", false),
        (b"[.a.][:digit:][=]=]", b"=- \x0b", false),
        (b"[.a.]", b"[.a.]", false),
        (b":]c[[:", b"", false),
        (b"[=b=][:foo:]", b"\x0b**9", false),
        (b".:]", b"", false),
        (b"[:foo:]", b".9]a\x0b", false),
        (b"", b"![\x09\x09", false),
        (b"[=b=]", b"*[:9:-", false),
    ];

    #[test]
    fn agrees_with_glibc() {
        let mut wrong = Vec::new();
        for &(pattern, text, expected) in GLIBC_CASES {
            if fnmatch(pattern, text) != expected {
                wrong.push((
                    String::from_utf8_lossy(pattern).into_owned(),
                    String::from_utf8_lossy(text).into_owned(),
                    expected,
                ));
            }
        }
        assert!(wrong.is_empty(), "disagreements with glibc: {wrong:#?}");
        assert!(GLIBC_CASES.len() > 100);
    }

    #[test]
    fn module_aliases() {
        assert!(fnmatch(
            b"pci:v00008086d000010D3sv*sd*bc*sc*i*",
            b"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
        ));
        assert!(!fnmatch(
            b"pci:v00008086d000010D3sv*sd*bc*sc*i*",
            b"pci:v00008086d000010D4sv00008086sd0000A01Fbc02sc00i00"
        ));
        assert!(fnmatch(
            b"usb:v*p*d*dc*dsc*dp*ic03isc01ip01in*",
            b"usb:v046Dp C52Bd1211dc00dsc00dp00ic03isc01ip01in00"
        ));
        assert!(fnmatch(b"acpi*:PNP0A08:*", b"acpi:PNP0A08:PNP0A03:"));
    }

    #[test]
    fn stops_at_nul_like_c() {
        assert!(fnmatch(b"ab\0zzz", b"ab"));
        assert!(fnmatch(b"ab", b"ab\0zzz"));
        assert!(fnmatch(b"*", b"\0x"));
    }

    #[test]
    fn long_inputs_stay_fast() {
        // A pattern that makes naive recursive matchers exponential.
        let pattern = [b"*a".repeat(40), b"b".to_vec()].concat();
        let text = vec![b'a'; 5000];
        let start = std::time::Instant::now();
        assert!(!fnmatch(&pattern, &text));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn wildcard_bytes() {
        assert!(has_wildcard(b"pci:v*"));
        assert!(has_wildcard(b"a?"));
        assert!(has_wildcard(b"[ab]"));
        assert!(!has_wildcard(b"a\\b]"));
        assert!(!has_wildcard(b"snd_hda_intel"));
    }
}
