//! Line and column numbers from byte offsets, counted on demand: only a
//! violation or an error needs one, so reading a document counts nothing.

pub struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        Lines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of `offset`, counted from the previous call's
    /// offset: forward as violations are found, and back a little for one
    /// found at an element's end tag.
    pub fn line(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset >= self.offset {
            self.line += newlines(&self.text[self.offset..offset]);
        } else {
            self.line -= newlines(&self.text[offset..self.offset]);
        }
        self.offset = offset;
        self.line
    }

    /// The 1-based line and column (in characters) of `offset`.
    pub fn line_column(&mut self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let offset = self.offset;
        let start = self.text[..offset]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&self.text[start..offset])
            .chars()
            .count()
            + 1;
        (line, column)
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
        assert_eq!(lines.line(3), 2, "and back");
        assert_eq!(lines.line_column(100), (4, 2));
    }
}
