//! What is wrong with a configuration, said where it is: the file, the line, the section and
//! the key (`phoneboot.toml:12 [tftp] max_serving_count`), the flag that sets the same, and
//! the reason in words.

use std::fmt;
use std::path::PathBuf;

/// The text of a configuration file, kept to say where a value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// A configuration value that was rejected: which setting, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting as the file spells it, section first: `tftp.max_serving_count`, `root`;
    /// `--config` for the file as a whole.
    pub option: &'static str,
    pub reason: String,
    /// Where the file sets it: `phoneboot.toml:12`.
    pub at: Option<String>,
}

impl std::error::Error for ConfigError {}

/// The command-line flag of each setting that has one.
const FLAGS: &[(&str, &str)] = &[
    ("root", "--root"),
    ("alternate_roots", "--alternate-root"),
    ("tftp.listen", "--tftp-listen"),
    ("tftp.max_serving_count", "--max-serving-count"),
    ("tftp.busy_reply", "--busy-reply"),
    ("tftp.busy_message", "--busy-message"),
    ("tftp.max_blksize", "--max-blksize"),
    ("tftp.max_windowsize", "--max-windowsize"),
    ("tftp.timeout_ms", "--timeout-ms"),
    ("tftp.min_timeout_ms", "--min-timeout-ms"),
    ("tftp.queue_length", "--queue-length"),
    ("tftp.queue_wait_ms", "--queue-wait-ms"),
    ("tftp.max_timeout_ms", "--max-timeout-ms"),
    ("tftp.retries", "--retries"),
    ("tftp.final_retries", "--final-retries"),
    ("tftp.unanswered_retries", "--unanswered-retries"),
    ("tftp.rollover", "--rollover"),
    ("tftp.recv_buffer_bytes", "--recv-buffer"),
    ("tftp.cache_max_bytes", "--cache-max-bytes"),
    ("tftp.stream_above_bytes", "--stream-above-bytes"),
    ("tftp.single_port", "--single-port"),
    ("http.listen", "--http-listen"),
    ("admin.listen", "--admin-listen"),
    ("admin.allow_plain_remote", "--admin-allow-plain-remote"),
    ("admin.tls_cert", "--admin-tls-cert"),
    ("admin.tls_key", "--admin-tls-key"),
    ("admin.trusted_proxies", "--admin-trusted-proxy"),
    ("database.url", "--database"),
    ("database.models", "--models"),
    ("remote_clusters.servers", "--alternate-server"),
];

impl ConfigError {
    pub(crate) fn new(option: &'static str, reason: impl Into<String>) -> Self {
        Self {
            option,
            reason: reason.into(),
            at: None,
        }
    }

    /// This error, placed at the line of `source` that sets its option (when it does).
    #[must_use]
    pub(crate) fn located(mut self, source: Option<&Source>) -> Self {
        if self.at.is_none()
            && let Some(source) = source
            && let Some((section, key)) = split(self.option)
            && let Some(line) = line_of(&source.text, section, key)
        {
            self.at = Some(format!("{}:{line}", source.path.display()));
        }
        self
    }

    /// A file that does not parse: TOML's or serde's message in words, at its line, with the
    /// section and the key that line holds.
    pub(crate) fn unreadable(source: &Source, error: &toml::de::Error) -> Self {
        let said = phoneboot_model::plain_words(error.message());
        let Some(span) = error.span() else {
            return Self {
                option: "--config",
                reason: format!("{}: {}", source.path.display(), said.reason),
                at: None,
            };
        };
        let line = 1 + source.text[..span.start.min(source.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count();
        let (section, key) = place(&source.text, line);
        let key = said.field.clone().or(key);
        let name = match (section.as_deref(), key.as_deref()) {
            (Some(s), Some(k)) => format!("[{s}] {k}: "),
            (None, Some(k)) => format!("{k}: "),
            (Some(s), None) => format!("[{s}]: "),
            (None, None) => String::new(),
        };
        Self {
            option: "--config",
            reason: format!("{name}{}", said.reason),
            at: Some(format!("{}:{line}", source.path.display())),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at} ")?;
        }
        if self.option == "--config" {
            return f.write_str(&self.reason);
        }
        match split(self.option) {
            Some((Some(section), key)) => write!(f, "[{section}] {key}")?,
            Some((None, key)) => f.write_str(key)?,
            None => f.write_str(self.option)?,
        }
        if let Some((_, flag)) = FLAGS.iter().find(|(o, _)| *o == self.option) {
            write!(f, " (or {flag})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// `tftp.max_serving_count` as (Some("tftp"), "max_serving_count"); `root` as (None, "root").
fn split(option: &str) -> Option<(Option<&str>, &str)> {
    if option.starts_with('-') {
        return None;
    }
    Some(match option.split_once('.') {
        Some((section, key)) => (Some(section), key),
        None => (None, option),
    })
}

/// The line (1-based) of `text` that sets `key` in `section` (`None`: before any section).
fn line_of(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = Some(
                header
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned(),
            );
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key && current.as_deref() == section {
            return Some(i + 1);
        }
    }
    None
}

/// The section in force at `line` and the key that line sets, if any.
fn place(text: &str, line: usize) -> (Option<String>, Option<String>) {
    let mut section = None;
    for raw in text.lines().take(line.saturating_sub(1)) {
        if let Some(header) = raw.trim().strip_prefix('[') {
            section = Some(
                header
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned(),
            );
        }
    }
    let key = text.lines().nth(line.saturating_sub(1)).and_then(|l| {
        let l = l.trim();
        if l.starts_with('[') {
            return None;
        }
        l.split_once('=').map(|(k, _)| k.trim().to_owned())
    });
    (section, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            path: "phoneboot.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_value_is_placed_at_its_line_section_and_key_with_its_flag() {
        let s = source("root = \"/srv\"\n\n[tftp]\nretries = 9\nmax_serving_count = 0\n");
        let e = ConfigError::new("tftp.max_serving_count", "must be 1 to 100000").located(Some(&s));
        assert_eq!(
            e.to_string(),
            "phoneboot.toml:5 [tftp] max_serving_count (or --max-serving-count): must be 1 to 100000"
        );
        let e = ConfigError::new("http.retry_after_secs", "x").located(Some(&s));
        assert_eq!(
            e.to_string(),
            "[http] retry_after_secs: x",
            "not in the file"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_says_where_in_words() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            tftp: Tftp,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Tftp {
            retries: Option<u32>,
        }
        for (text, want) in [
            (
                "[tftp]\n\nretries = \"five\"\n",
                "phoneboot.toml:3 [tftp] retries: \"five\" is not a whole number from 0 to 4294967295",
            ),
            (
                "[tftp]\nretires = 5\n",
                "phoneboot.toml:2 [tftp] retires: is not a field here (the fields are retries)",
            ),
        ] {
            let s = source(text);
            let err = toml::from_str::<T>(text).unwrap_err();
            assert_eq!(ConfigError::unreadable(&s, &err).to_string(), want);
        }
    }
}
