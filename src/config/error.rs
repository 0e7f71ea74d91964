use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

/// One mistake in one file, located by line, column and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The dotted key the mistake is at, such as `tenants.acme.partners.alice.routes[0].to`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: `{}`: {}",
            self.file.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// The text of one configuration file, kept to turn byte spans into lines.
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn problem(&self, span: Option<Range<usize>>, key: &str, message: String) -> Problem {
        let (line, column) = match span {
            Some(span) => self.line_column(span.start),
            None => (1, 1),
        };
        Problem {
            file: self.path.clone(),
            line,
            column,
            key: key.to_owned(),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}
