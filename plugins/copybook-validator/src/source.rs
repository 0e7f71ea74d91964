//! The text of a copybook, cut into entries: the lines as COBOL reads them
//! (fixed or free format), comments removed, continuation lines joined,
//! then words and literals grouped into entries by their separator periods.
//! Every token keeps the line it came from, so that a mistake in the
//! copybook is reported where the integrator can find it.

use crate::copybook::CopybookError;

/// Where a copybook's text sits on its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Fixed when every line looks like fixed format, free otherwise.
    Auto,
    /// Columns 1-6 are the sequence area, column 7 the indicator, columns
    /// 8-72 the text and columns 73-80 an identification area.
    Fixed,
    /// The whole line is text; `*>` starts a comment.
    Free,
}

/// A word or a literal of an entry, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub line: usize,
    /// A quoted literal (or a word holding one, such as `X'0A'`), which can
    /// never be a name or a keyword.
    pub literal: bool,
}

impl Token {
    /// The word in upper case, as COBOL compares words.
    pub fn upper(&self) -> String {
        self.text.to_ascii_uppercase()
    }
}

/// The entries of a copybook: the tokens between separator periods. The
/// last entry may lack its period; compilers warn about that but read it.
pub fn entries(text: &str, format: Format) -> Result<Vec<Vec<Token>>, CopybookError> {
    let fixed = match format {
        Format::Fixed => true,
        Format::Free => false,
        Format::Auto => looks_fixed(text),
    };
    let mut entries = Vec::new();
    let mut current = Vec::new();
    for (line, content) in logical_lines(text, fixed) {
        scan(&content, line, &mut current, &mut entries)?;
    }
    if !current.is_empty() {
        entries.push(current);
    }
    let mut kept = Vec::with_capacity(entries.len());
    for mut entry in entries {
        // Listing controls may stand between entries; they are not part of
        // the next entry, and a COPY inside a copybook cannot be expanded
        // here because the copied member is not at hand.
        while entry
            .first()
            .is_some_and(|t| matches!(t.upper().as_str(), "EJECT" | "SKIP1" | "SKIP2" | "SKIP3"))
        {
            entry.remove(0);
        }
        if let Some(first) = entry.first() {
            if matches!(first.upper().as_str(), "COPY" | "REPLACE") {
                return Err(CopybookError::at(
                    first.line,
                    format!(
                        "{} cannot be expanded here: paste the text it names into `layout`",
                        first.upper()
                    ),
                ));
            }
            kept.push(entry);
        }
    }
    Ok(kept)
}

/// Fixed format is recognised when every line that is not blank has a
/// sequence area of six digits or six spaces, a valid indicator in column
/// 7 and no text past column 80. A free-format copybook indented by seven
/// spaces or more also passes, and reads the same either way unless it has
/// text past column 72; the `copybook-format` parameter settles that case.
/// A sequence area that mixes digits and spaces is not taken as one,
/// because it is more likely a level number in a free-format line such as
/// `    05 NAME`.
fn looks_fixed(text: &str) -> bool {
    let mut seen = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.chars().count() > 80 {
            return false;
        }
        let head: Vec<char> = line.chars().take(7).collect();
        let sequence = &head[..head.len().min(6)];
        let blank = sequence.iter().all(|&c| c == ' ');
        let numbered = sequence.iter().all(char::is_ascii_digit);
        if !blank && !numbered {
            return false;
        }
        if let Some(&indicator) = head.get(6)
            && !matches!(indicator, ' ' | '*' | '/' | '-' | 'D' | 'd')
        {
            return false;
        }
        seen = true;
    }
    seen
}

/// The lines that hold text, with their numbers in the copybook: comment
/// and debugging lines dropped, the text area of fixed format cut out, and
/// continuation lines joined to the line they continue.
fn logical_lines(text: &str, fixed: bool) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if fixed {
            let chars: Vec<char> = raw.chars().collect();
            let indicator = chars.get(6).copied().unwrap_or(' ');
            let content: String = chars.iter().skip(7).take(65).collect();
            match indicator {
                // Debugging lines (`D`) are code only for a compiler in
                // debugging mode; a record layout never depends on them.
                '*' | '/' | 'D' | 'd' => {}
                '-' => join_continuation(&mut out, number, &content),
                _ => out.push((number, content)),
            }
        } else {
            let trimmed = raw.trim_start();
            // No entry starts with `*`, so a line that does is a comment in
            // either spelling (`*>` or an old-style `*`); `>>` lines are
            // compiler directives, which do not change a layout.
            if trimmed.starts_with('*') || trimmed.starts_with(">>") {
                continue;
            }
            out.push((number, raw.to_string()));
        }
    }
    out
}

/// A continuation line (`-` in column 7) goes on with the previous line:
/// a literal resumes after the quote that opens the continued part, and a
/// word resumes directly. The continued literal's content does not matter
/// here (only VALUE clauses hold literals, and they are skipped), but its
/// quotes must pair up for the periods after it to be seen.
fn join_continuation(out: &mut Vec<(usize, String)>, number: usize, content: &str) {
    let rest = content.trim_start();
    match out.last_mut() {
        Some((_, previous)) => match rest.strip_prefix(['\'', '"']) {
            Some(body) => previous.push_str(body),
            None => {
                previous.truncate(previous.trim_end().len());
                previous.push_str(rest);
            }
        },
        None => out.push((number, rest.to_string())),
    }
}

/// Cuts one line into tokens, closing the current entry at each separator
/// period (a period followed by a space or the end of the line; a period
/// inside a word, as in `PIC 9(5).99`, belongs to the word). Commas and
/// semicolons followed by a space are separators like spaces.
fn scan(
    content: &str,
    line: usize,
    current: &mut Vec<Token>,
    entries: &mut Vec<Vec<Token>>,
) -> Result<(), CopybookError> {
    let c: Vec<char> = content.chars().collect();
    let n = c.len();
    let ends_word = |j: usize| j + 1 >= n || c[j + 1].is_whitespace();
    let mut i = 0;
    while i < n {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch == '*' && c.get(i + 1) == Some(&'>') {
            break;
        }
        if ch == '.' && ends_word(i) {
            if !current.is_empty() {
                entries.push(std::mem::take(current));
            }
            i += 1;
            continue;
        }
        if (ch == ',' || ch == ';') && ends_word(i) {
            i += 1;
            continue;
        }
        let start = i;
        let mut literal = false;
        while i < n && !c[i].is_whitespace() {
            if c[i] == '\'' || c[i] == '"' {
                literal = true;
                let quote = c[i];
                i += 1;
                loop {
                    if i >= n {
                        return Err(CopybookError::at(line, "a literal is not closed"));
                    }
                    if c[i] == quote {
                        // A doubled quote stands for one quote inside.
                        if c.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            if matches!(c[i], '.' | ',' | ';') && ends_word(i) {
                break;
            }
            i += 1;
        }
        current.push(Token {
            text: c[start..i].iter().collect(),
            line,
            literal,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str, format: Format) -> Vec<Vec<String>> {
        entries(text, format)
            .unwrap()
            .into_iter()
            .map(|e| e.into_iter().map(|t| t.text).collect())
            .collect()
    }

    /// A fixed-format line: sequence number, indicator, text padded to
    /// column 72, identification area.
    fn card(sequence: &str, indicator: char, text: &str, ident: &str) -> String {
        format!("{sequence:<6}{indicator}{text:<65}{ident}\n")
    }

    #[test]
    fn fixed_format_uses_columns_8_to_72() {
        let text = [
            card("000100", ' ', "01  CUSTOMER-REC.", "CUSTREC1"),
            card("000200", '*', "    A COMMENT. WITH PERIODS.", ""),
            card(
                "000300",
                ' ',
                "    05  CUST-ID        PIC 9(6).",
                "CUSTREC1",
            ),
            card("000400", '/', "    A PAGE EJECT COMMENT", ""),
            card(
                "000500",
                ' ',
                "    05  CUST-NAME      PIC X(20).",
                "CUSTREC1",
            ),
            // Text past column 72 is not part of the entry.
            card(
                "000600",
                ' ',
                &format!("    05  TAIL{:>53}", "PIC X(4)."),
                "9(5)V99.",
            ),
        ]
        .concat();
        assert!(looks_fixed(&text));
        assert_eq!(
            words(&text, Format::Auto),
            [
                vec!["01", "CUSTOMER-REC"],
                vec!["05", "CUST-ID", "PIC", "9(6)"],
                vec!["05", "CUST-NAME", "PIC", "X(20)"],
                vec!["05", "TAIL", "PIC", "X(4)"],
            ]
        );
    }

    #[test]
    fn free_format_is_recognised() {
        let text = "01 REC.\n  05 A PIC X(3). *> inline\n    05 B PIC 9.\n* old comment\n";
        assert!(!looks_fixed(text));
        assert_eq!(
            words(text, Format::Auto),
            [
                vec!["01", "REC"],
                vec!["05", "A", "PIC", "X(3)"],
                vec!["05", "B", "PIC", "9"]
            ]
        );
        // Mixed digits and spaces in columns 1-6 are a level number, not
        // a sequence number.
        assert!(!looks_fixed("    05 NAME PIC X.\n"));
        // Seven spaces of indentation read the same in both formats.
        assert!(looks_fixed("       01 REC.\n           05 A PIC X.\n"));
    }

    #[test]
    fn entries_span_lines_and_periods_inside_words_stay() {
        let text = "01 REC.\n   05 AMOUNT\n      PIC ZZ9.99\n      VALUE 'A. B'.\n 05 C PIC X, VALUE \"it''s\".";
        assert_eq!(
            words(text, Format::Free),
            [
                vec!["01", "REC"],
                vec!["05", "AMOUNT", "PIC", "ZZ9.99", "VALUE", "'A. B'"],
                vec!["05", "C", "PIC", "X", "VALUE", "\"it''s\""],
            ]
        );
        let tokens = entries(text, Format::Free).unwrap();
        assert_eq!(tokens[1][2].line, 3);
        assert!(tokens[1][5].literal);
    }

    #[test]
    fn continuation_lines_join_the_literal_they_continue() {
        let text = "\
000100 01  REC.
000200     05  GREETING   PIC X(40) VALUE 'HELLO THERE, THIS IS A LONG
000300-    'LITERAL. IT GOES ON'.
000400     05  NEXT-ONE   PIC X.
";
        assert_eq!(
            words(text, Format::Auto),
            [
                vec!["01", "REC"],
                vec![
                    "05",
                    "GREETING",
                    "PIC",
                    "X(40)",
                    "VALUE",
                    "'HELLO THERE, THIS IS A LONGLITERAL. IT GOES ON'"
                ],
                vec!["05", "NEXT-ONE", "PIC", "X"],
            ]
        );
    }

    #[test]
    fn listing_controls_are_dropped_and_copy_is_refused() {
        assert_eq!(
            words("01 REC.\nEJECT\n05 A PIC X.\n", Format::Free),
            [vec!["01", "REC"], vec!["05", "A", "PIC", "X"]]
        );
        let error = entries("01 REC.\n COPY OTHER.\n", Format::Free).unwrap_err();
        assert_eq!(
            error.to_string(),
            "copybook line 2: COPY cannot be expanded here: paste the text it names into `layout`"
        );
        let error = entries("01 REC.\n 05 A PIC X VALUE 'OPEN.\n", Format::Free).unwrap_err();
        assert_eq!(
            error.to_string(),
            "copybook line 2: a literal is not closed"
        );
    }
}
