//! `modules.devname`: the device nodes modules provide, as `kmod static-nodes` reads them.
//!
//! depmod writes one line per node, `MODULE DEVNAME TMAJ:MIN`, where T is `c` (character) or
//! `b` (block); lines starting with `#` are comments. Lines are read and matched exactly as
//! kmod reads them (`fgets` into a 4096-byte buffer, then `sscanf("%s %s %c%u:%u")`), so that
//! malformed files give kmod's output too: a line longer than the buffer is cut into records,
//! trailing bytes after the minor number are ignored, numbers wrap as `strtoul`'s do.

use std::path::Path;

/// kmod's line buffer for modules.devname (`fgets` into 4096 bytes).
pub const LINE_BUFFER: usize = 4096;

/// The most bytes of modules.devname read: far more than any kernel has device names.
pub const MAX_DEVNAME: u64 = 16 * 1024 * 1024;

/// Reads modules.devname at `path`, at most [`MAX_DEVNAME`] bytes. Something that is not a regular file reads as empty: kmod opens a
/// directory and gets nothing from it (and would block forever on a FIFO).
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = match crate::fs::open_regular_file(path) {
        Ok((file, _)) => file,
        Err(crate::Error::Io { source, .. }) => return Err(source),
        Err(_) => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    file.take(MAX_DEVNAME).read_to_end(&mut out)?;
    Ok(out)
}

/// The records of modules.devname `bytes` as `fgets` into [`LINE_BUFFER`] bytes returns them:
/// lines, each with its newline, and longer lines cut into 4095-byte pieces.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    crate::fs::fgets_pieces(bytes, LINE_BUFFER)
}

/// The entries of modules.devname `bytes`, comments skipped: each an entry, or (`Err`) a record
/// kmod rejects, as read (newline included).
pub fn entries(bytes: &[u8]) -> impl Iterator<Item = Result<DevnameEntry<'_>, &[u8]>> {
    records(bytes)
        .filter(|record| record.first() != Some(&b'#'))
        .map(|record| parse_line(record).ok_or(record))
}

/// `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// A cursor over a line, with `scanf`'s conversions.
struct Scan<'a> {
    rest: &'a [u8],
}

impl<'a> Scan<'a> {
    fn skip_space(&mut self) {
        let n = self.rest.iter().take_while(|&&b| is_space(b)).count();
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    /// `%s`: white space skipped, then a non-empty run of non-space bytes.
    fn word(&mut self) -> Option<&'a [u8]> {
        self.skip_space();
        let n = self.rest.iter().take_while(|&&b| !is_space(b)).count();
        let (word, rest) = self.rest.split_at(n);
        self.rest = rest;
        (n > 0).then_some(word)
    }

    /// `%c`: any one byte.
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    /// `%u`: white space skipped, an optional sign, decimal digits; as strtoul, an overflow
    /// gives the largest value and a minus sign negates; then cut to 32 bits.
    fn unsigned(&mut self) -> Option<u32> {
        self.skip_space();
        let negative = match self.rest.first() {
            Some(b'-') => true,
            Some(b'+') => false,
            _ => {
                return self.digits();
            }
        };
        self.rest = self.rest.get(1..).unwrap_or_default();
        let value = self.digits_u64()?;
        let value = if negative {
            value.wrapping_neg()
        } else {
            value
        };
        Some(value as u32)
    }

    /// `%u` without a sign.
    fn digits(&mut self) -> Option<u32> {
        self.digits_u64().map(|v| v as u32)
    }

    /// Decimal digits, as strtoull reads them: an overflow gives the largest value.
    fn digits_u64(&mut self) -> Option<u64> {
        let n = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut value: u64 = 0;
        for &d in self.rest.get(..n).unwrap_or_default() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .unwrap_or(u64::MAX);
        }
        self.rest = self.rest.get(n..).unwrap_or_default();
        Some(value)
    }

    /// A literal byte.
    fn literal(&mut self, want: u8) -> Option<()> {
        match self.rest.split_first() {
            Some((&b, rest)) if b == want => {
                self.rest = rest;
                Some(())
            }
            _ => None,
        }
    }
}

/// One modules.devname entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnameEntry<'a> {
    /// The module.
    pub module: &'a [u8],
    /// The device node under /dev.
    pub devname: &'a [u8],
    /// `c` or `b`.
    pub kind: u8,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

/// Matches a line as `sscanf(line, "%s %s %c%u:%u")` does, requiring all five conversions
/// and a type of `c` or `b`.
pub fn parse_line(line: &[u8]) -> Option<DevnameEntry<'_>> {
    let mut scan = Scan { rest: line };
    let module = scan.word()?;
    let devname = scan.word()?;
    scan.skip_space();
    let kind = scan.byte()?;
    let major = scan.unsigned()?;
    scan.literal(b':')?;
    let minor = scan.unsigned()?;
    matches!(kind, b'c' | b'b').then_some(DevnameEntry {
        module,
        devname,
        kind,
        major,
        minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanf_semantics() {
        let e = parse_line(b"fuse fuse c10:229\n").unwrap();
        assert_eq!(
            (e.module, e.devname, e.kind, e.major, e.minor),
            (&b"fuse"[..], &b"fuse"[..], b'c', 10, 229)
        );
        // White space before the numbers is skipped by %u, trailing bytes are ignored.
        let e = parse_line(b"  a\tb  b 8: 0 tail").unwrap();
        assert_eq!((e.kind, e.major, e.minor), (b'b', 8, 0));
        assert_eq!(parse_line(b"a b c-1:+2\n").unwrap().major, u32::MAX);
        assert_eq!(
            parse_line(b"a b c99999999999999999999999:1\n")
                .unwrap()
                .major,
            u32::MAX
        );
        assert_eq!(parse_line(b"a b c4294967296:1\n").unwrap().major, 0);
        for bad in [
            &b"\n"[..],
            b"",
            b"a b\n",
            b"a b x1:2\n",
            b"a b c1 :2\n",
            b"a b c:2\n",
            b"a b c1:\n",
            b"a b c1-2\n",
        ] {
            assert_eq!(parse_line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn long_lines_are_cut_like_fgets() {
        let mut text = vec![b'x'; 5000];
        text.push(b'\n');
        text.extend_from_slice(b"end");
        let records: Vec<&[u8]> = records(&text).collect();
        assert_eq!(
            records.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [4095, 906, 3]
        );
    }

    /// Comments are skipped, bad lines come back as they were read.
    #[test]
    fn entries_skip_comments_and_return_bad_lines() {
        let got: Vec<_> = entries(b"# c\nfuse fuse c10:229\nbad\n")
            .map(|e| e.map(|e| e.module))
            .collect();
        assert_eq!(got, [Ok(&b"fuse"[..]), Err(&b"bad\n"[..])]);
    }

    /// A missing file is an error to report; a directory or FIFO reads as empty.
    #[test]
    fn read_missing_and_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(&dir.path().join("none")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(read(dir.path()).unwrap(), b"");
        std::fs::write(dir.path().join("f"), b"a b c1:2\n").unwrap();
        assert_eq!(read(&dir.path().join("f")).unwrap(), b"a b c1:2\n");
    }
}
