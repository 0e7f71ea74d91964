//! Line and column numbers from byte offsets. Offsets only grow while a
//! document is read, so each newline is counted once.

pub struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        Lines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The 1-based line of `offset`, which must not be before the offset
    /// of the previous call.
    pub fn line(&mut self, offset: usize) -> usize {
        self.advance(offset);
        self.line
    }

    /// The 1-based line and column (in characters) of `offset`.
    pub fn line_column(&mut self, offset: usize) -> (usize, usize) {
        self.advance(offset);
        let end = offset.min(self.text.len());
        let column = String::from_utf8_lossy(&self.text[self.line_start..end]).chars().count() + 1;
        (self.line, column)
    }

    fn advance(&mut self, offset: usize) {
        let end = offset.min(self.text.len());
        if end <= self.offset {
            return;
        }
        for (i, b) in self.text[self.offset..end].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_columns() {
        let mut lines = Lines::new("ab\ncdé\n\nx");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line_column(4), (2, 2));
        assert_eq!(lines.line_column(7), (2, 4));
        assert_eq!(lines.line(9), 4);
        assert_eq!(lines.line(3), 4, "offsets never go back");
    }
}
