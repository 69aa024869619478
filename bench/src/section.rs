//! Sections of `bench/results.md` that a suite writes on its own: each sits
//! between two marker lines, so that one suite's run rewrites its section
//! alone and a full run of the classic suite keeps the others.

use std::fmt::Write as _;

/// A section's marker lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// First line of the section.
    pub begin: &'static str,
    /// Last line of the section.
    pub end: &'static str,
}

/// The compression suite's section (`SUITES=compression`).
pub const COMPRESSION: Section = Section {
    begin: "<!-- compression:begin -->",
    end: "<!-- compression:end -->",
};

/// The TLS suite's section (`SUITES=tls`).
pub const TLS: Section = Section {
    begin: "<!-- tls:begin -->",
    end: "<!-- tls:end -->",
};

/// Every section, in the order they are appended to a new document.
pub const ALL: [Section; 2] = [COMPRESSION, TLS];

impl Section {
    /// Puts `section` into `document`: replaces an earlier one, or appends.
    pub fn splice(&self, document: &str, section: &str) -> String {
        match (document.find(self.begin), document.find(self.end)) {
            (Some(begin), Some(end)) if end > begin => {
                let after = end + self.end.len();
                let rest = document[after..]
                    .strip_prefix('\n')
                    .unwrap_or(&document[after..]);
                format!("{}{}{}", &document[..begin], section, rest)
            }
            _ => {
                let mut out = document.trim_end().to_string();
                out.push_str("\n\n");
                out.push_str(section);
                out
            }
        }
    }

    /// The section inside `document`, if any, markers included.
    pub fn extract<'a>(&self, document: &'a str) -> Option<&'a str> {
        let begin = document.find(self.begin)?;
        let end = document[begin..].find(self.end)? + begin + self.end.len();
        Some(&document[begin..end])
    }
}

/// A section's opening: the begin marker, the heading, the notes as a list.
pub fn head(section: Section, heading: &str, notes: &[String]) -> String {
    let mut md = format!("{}\n## {heading}\n\n", section.begin);
    for note in notes {
        let _ = writeln!(md, "- {note}");
    }
    md
}

/// The table of what each server is and how it is set up (nothing if empty).
pub fn describe_table(describe: &[(String, String)]) -> String {
    let mut md = String::new();
    if !describe.is_empty() {
        md.push_str("\n| server | settings |\n|---|---|\n");
        for (server, text) in describe {
            let _ = writeln!(md, "| {server} | {text} |");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_or_appends() {
        let section = format!("{}\nnew\n{}\n", COMPRESSION.begin, COMPRESSION.end);
        let doc = "# t\n\ntext\n";
        let once = COMPRESSION.splice(doc, &section);
        assert_eq!(once, format!("# t\n\ntext\n\n{section}"));
        let newer = format!("{}\nnewer\n{}\n", COMPRESSION.begin, COMPRESSION.end);
        let twice = COMPRESSION.splice(&once, &newer);
        assert!(twice.contains("newer") && !twice.contains("\nnew\n"));
        assert_eq!(COMPRESSION.extract(&twice), Some(newer.trim_end()));
        // Another section goes after it and leaves it alone.
        let tls = format!("{}\ntls\n{}\n", TLS.begin, TLS.end);
        let both = TLS.splice(&twice, &tls);
        assert_eq!(COMPRESSION.extract(&both), Some(newer.trim_end()));
        assert_eq!(TLS.extract(&both), Some(tls.trim_end()));
        assert_eq!(TLS.extract(&twice), None);
    }
}
