//! The Prometheus text exposition format (version 0.0.4, what `/metrics` endpoints serve),
//! parsed into samples.
//!
//! A document is lines: `# HELP name text`, `# TYPE name counter|gauge|histogram|summary|untyped`,
//! other `#` comments, blank lines, and samples `name{label="value",…} value [timestamp_ms]`.
//! Histograms and summaries arrive as their sample series (`_bucket` with `le`, quantiles
//! with `quantile`, `_sum`, `_count`) and stay those series here: a rule selects
//! `http_request_duration_seconds_bucket{le="0.5"}` like Prometheus does.
//!
//! Values follow Go's `ParseFloat` as Prometheus does: `NaN`, `+Inf`, `-Inf` are samples
//! like any other. Every fault is an error naming the line (1-based) and what was expected,
//! because an exposition that half-parses would store a half-true picture of the target.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Labels on one sample, at most; more is refused (a runaway exporter, not a host).
pub const MAX_LABELS: usize = 64;
/// Longest label value accepted, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 4096;

/// The declared type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    fn parse(text: &str) -> Option<MetricType> {
        Some(match text {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" | "unknown" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// One sample line. Label names and values borrow from the text unless unescaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the line carries one.
    pub timestamp_ms: Option<i64>,
    /// 1-based line number, for errors found later (e.g. duplicate samples).
    pub line: usize,
}

/// A parsed document: the samples in order, and the declared type of each family.
#[derive(Debug, Default)]
pub struct Exposition<'a> {
    pub samples: Vec<Sample<'a>>,
    pub types: HashMap<&'a str, MetricType>,
    pub help: HashMap<&'a str, String>,
}

/// A fault in the text, with its 1-based line number.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b[1..].iter().all(|&c| is_name_char(c))
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && is_label_start(b[0]) && b[1..].iter().all(|&c| is_label_char(c))
}

/// Parse a float the way Go's `strconv.ParseFloat` reads exposition values.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => return Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust also reads "infinity" and "nan" in any case; Go reads the same words. Refuse
    // what neither reads as a number (e.g. "1_000", which Go rejects without base prefix).
    if text.contains('_') {
        return None;
    }
    text.parse::<f64>().ok()
}

/// The family a sample name belongs to, given the declared types: `foo_bucket` belongs to
/// histogram `foo`, `foo_sum`/`foo_count` to histogram or summary `foo`.
fn family_of<'a>(name: &'a str, types: &HashMap<&'a str, MetricType>) -> (&'a str, MetricType) {
    if let Some(t) = types.get(name) {
        return (name, *t);
    }
    for suffix in ["_bucket", "_sum", "_count", "_created", "_total"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some(t) = types.get(base) {
                let fits = match suffix {
                    "_bucket" => *t == MetricType::Histogram,
                    "_sum" | "_count" | "_created" => {
                        matches!(t, MetricType::Histogram | MetricType::Summary)
                    }
                    _ => *t == MetricType::Counter,
                };
                if fits {
                    return (base, *t);
                }
            }
        }
    }
    (name, MetricType::Untyped)
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn token(&mut self) -> &'a str {
        self.take_while(|b| b != b' ' && b != b'\t')
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// A double-quoted label value, unescaping `\\`, `\"` and `\n`.
    fn label_value(&mut self, label: &str) -> Result<Cow<'a, str>, ParseError> {
        if self.peek() != Some(b'"') {
            return self.err(format!("label '{label}': expected a double-quoted value"));
        }
        self.pos += 1;
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut owned: Option<String> = None;
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                return self.err(format!(
                    "label '{label}': unterminated value (missing '\"')"
                ));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let s = owned.get_or_insert_with(|| self.text[start..self.pos].to_string());
                    let unescaped = match bytes.get(self.pos + 1) {
                        Some(b'\\') => '\\',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        Some(&c) => {
                            return self.err(format!(
                                "label '{label}': invalid escape '\\{}' (only \\\\, \\\" and \\n)",
                                c as char
                            ))
                        }
                        None => return self.err(format!("label '{label}': unterminated value")),
                    };
                    s.push(unescaped);
                    self.pos += 2;
                }
                _ => {
                    let ch_len = self.text[self.pos..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    if let Some(s) = owned.as_mut() {
                        s.push_str(&self.text[self.pos..self.pos + ch_len]);
                    }
                    self.pos += ch_len;
                }
            }
        }
        let value = match owned {
            Some(s) => Cow::Owned(s),
            None => Cow::Borrowed(&self.text[start..self.pos]),
        };
        self.pos += 1; // closing quote
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return self.err(format!(
                "label '{label}': value of {} bytes; at most {MAX_LABEL_VALUE_BYTES}",
                value.len()
            ));
        }
        Ok(value)
    }

    /// `{name="value", …}` with an optional trailing comma.
    fn labels(&mut self) -> Result<Vec<(&'a str, Cow<'a, str>)>, ParseError> {
        let mut labels: Vec<(&'a str, Cow<'a, str>)> = Vec::new();
        self.pos += 1; // '{'
        loop {
            self.skip_blanks();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(labels);
                }
                None => return self.err("unterminated label set (missing '}')"),
                Some(b) if is_label_start(b) => {}
                Some(b) => {
                    return self.err(format!(
                        "expected a label name or '}}', found '{}'",
                        b as char
                    ))
                }
            }
            let name = self.take_while(is_label_char);
            self.skip_blanks();
            if self.peek() != Some(b'=') {
                return self.err(format!("label '{name}': expected '=' after the name"));
            }
            self.pos += 1;
            self.skip_blanks();
            let value = self.label_value(name)?;
            if labels.iter().any(|(n, _)| *n == name) {
                return self.err(format!("label '{name}' appears twice"));
            }
            if labels.len() == MAX_LABELS {
                return self.err(format!("more than {MAX_LABELS} labels on one sample"));
            }
            labels.push((name, value));
            self.skip_blanks();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                None => return self.err("unterminated label set (missing '}')"),
                Some(b) => {
                    return self.err(format!(
                        "expected ',' or '}}' after label '{name}', found '{}'",
                        b as char
                    ))
                }
            }
        }
    }
}

/// Parse a whole exposition document.
pub fn parse(text: &str) -> Result<Exposition<'_>, ParseError> {
    let mut out = Exposition::default();
    // Families whose samples have been seen: a TYPE after them is an error, as in Prometheus.
    let mut seen_families: HashMap<&str, usize> = HashMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let mut c = Cursor {
            text: line,
            pos: 0,
            line: line_no,
        };
        c.skip_blanks();
        if c.at_end() {
            continue;
        }
        if c.peek() == Some(b'#') {
            comment_line(&mut c, &mut out, &seen_families)?;
            continue;
        }
        let sample = sample_line(&mut c)?;
        let (family, kind) = family_of(sample.name, &out.types);
        check_typed_sample(&c, &sample, family, kind)?;
        seen_families.entry(family).or_insert(line_no);
        out.samples.push(sample);
    }
    Ok(out)
}

fn comment_line<'a>(
    c: &mut Cursor<'a>,
    out: &mut Exposition<'a>,
    seen: &HashMap<&'a str, usize>,
) -> Result<(), ParseError> {
    c.pos += 1;
    c.skip_blanks();
    let keyword = c.token();
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(()); // a plain comment (or OpenMetrics' "# EOF")
    }
    c.skip_blanks();
    let name = c.token();
    if !valid_metric_name(name) {
        return c.err(format!("# {keyword}: invalid metric name '{name}'"));
    }
    c.skip_blanks();
    let rest = c.text[c.pos..].trim_end();
    if keyword == "TYPE" {
        let Some(kind) = MetricType::parse(rest) else {
            return c.err(format!(
                "# TYPE {name}: unknown type '{rest}' (counter, gauge, histogram, summary, untyped)"
            ));
        };
        if out.types.contains_key(name) {
            return c.err(format!("second # TYPE line for '{name}'"));
        }
        if let Some(first) = seen.get(name) {
            return c.err(format!(
                "# TYPE for '{name}' after its samples (first at line {first})"
            ));
        }
        out.types.insert(name, kind);
    } else {
        if out.help.contains_key(name) {
            return c.err(format!("second # HELP line for '{name}'"));
        }
        out.help
            .insert(name, rest.replace("\\n", "\n").replace("\\\\", "\\"));
    }
    Ok(())
}

fn sample_line<'a>(c: &mut Cursor<'a>) -> Result<Sample<'a>, ParseError> {
    let start = c.pos;
    if !c.peek().is_some_and(is_name_start) {
        let found = c.text[start..].chars().next().unwrap_or(' ');
        return c.err(format!("expected a metric name, found '{found}'"));
    }
    let name = c.take_while(is_name_char);
    c.skip_blanks();
    let labels = if c.peek() == Some(b'{') {
        c.labels()?
    } else {
        Vec::new()
    };
    c.skip_blanks();
    let value_text = c.token();
    if value_text.is_empty() {
        return c.err(format!("'{name}': missing value"));
    }
    let Some(value) = parse_value(value_text) else {
        return c.err(format!("'{name}': invalid value '{value_text}'"));
    };
    c.skip_blanks();
    let timestamp_ms = if c.at_end() {
        None
    } else {
        let ts = c.token();
        match ts.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return c.err(format!(
                    "'{name}': invalid timestamp '{ts}' (integer milliseconds since the epoch)"
                ))
            }
        }
    };
    c.skip_blanks();
    if !c.at_end() {
        return c.err(format!(
            "'{name}': unexpected text after the timestamp: '{}'",
            &c.text[c.pos..]
        ));
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
        line: c.line,
    })
}

/// Histogram buckets need `le`, summary quantiles need `quantile`, both as numbers.
fn check_typed_sample(
    c: &Cursor<'_>,
    s: &Sample<'_>,
    family: &str,
    kind: MetricType,
) -> Result<(), ParseError> {
    let needed = match kind {
        MetricType::Histogram if s.name.len() > family.len() && s.name.ends_with("_bucket") => "le",
        MetricType::Summary if s.name == family => "quantile",
        _ => return Ok(()),
    };
    match s.labels.iter().find(|(n, _)| *n == needed) {
        None => c.err(format!(
            "'{}': a sample of {kind:?} '{family}' needs the label '{needed}'",
            s.name
        )),
        Some((_, v)) if parse_value(v).is_none() => c.err(format!(
            "'{}': label '{needed}' must be a number, got '{v}'",
            s.name
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(s: &'a Sample<'a>) -> Vec<(&'a str, &'a str)> {
        s.labels.iter().map(|(k, v)| (*k, v.as_ref())).collect()
    }

    #[test]
    fn documentation_example_parses() {
        // The example of the Prometheus exposition-format documentation.
        let text = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;
        let e = parse(text).unwrap();
        assert_eq!(e.samples.len(), 13);
        let s = &e.samples[0];
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(labels(s), [("method", "post"), ("code", "200")]);
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp_ms, Some(1395066363000));
        assert_eq!(s.line, 3);
        let dos = &e.samples[2];
        assert_eq!(
            labels(dos),
            [
                ("path", r"C:\DIR\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\"")
            ]
        );
        assert_eq!(e.samples[3].timestamp_ms, None);
        assert_eq!(e.samples[4].value, f64::INFINITY);
        assert_eq!(e.samples[4].timestamp_ms, Some(-3982045));
        assert_eq!(
            e.types["http_request_duration_seconds"],
            MetricType::Histogram
        );
        assert_eq!(e.types["rpc_duration_seconds"], MetricType::Summary);
        assert_eq!(
            e.help["http_requests_total"],
            "The total number of HTTP requests."
        );
    }

    #[test]
    fn special_values_and_whitespace() {
        let e = parse("a NaN\nb -Inf\n\tc{x=\"1\",} 2e3   5\r\n").unwrap();
        assert!(e.samples[0].value.is_nan());
        assert_eq!(e.samples[1].value, f64::NEG_INFINITY);
        assert_eq!(e.samples[2].value, 2000.0);
        assert_eq!(e.samples[2].timestamp_ms, Some(5));
        assert_eq!(labels(&e.samples[2]), [("x", "1")]);
    }

    fn error(text: &str) -> ParseError {
        parse(text).expect_err("should fail")
    }

    #[test]
    fn errors_name_the_line_and_the_fault() {
        let e = error("ok 1\nbad{x=1} 2\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("double-quoted"), "{e}");
        assert!(error("a{x=\"1\"\n").message.contains("missing '}'"));
        assert!(error("a{x=\"1} 1\n").message.contains("unterminated"));
        assert!(error("a{x=\"\\t\"} 1").message.contains("invalid escape"));
        assert!(error("a{x=\"1\",x=\"2\"} 1").message.contains("twice"));
        assert!(error("a one").message.contains("invalid value 'one'"));
        assert!(error("a").message.contains("missing value"));
        assert!(error("a 1 1.5").message.contains("invalid timestamp"));
        assert!(error("a 1 2 3").message.contains("unexpected text"));
        assert!(error("1a 1").message.contains("expected a metric name"));
        assert!(error("a 1_000").message.contains("invalid value"));
        assert!(error("# TYPE a countr").message.contains("unknown type"));
        let e = error("a 1\n# TYPE a gauge\n");
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("after its samples (first at line 1)"),
            "{e}"
        );
        assert!(error("# TYPE a gauge\n# TYPE a gauge")
            .message
            .contains("second # TYPE"));
    }

    #[test]
    fn histogram_and_summary_series_need_their_labels() {
        let e = error("# TYPE h histogram\nh_bucket 3\n");
        assert!(e.message.contains("needs the label 'le'"), "{e}");
        let e = error("# TYPE h histogram\nh_bucket{le=\"x\"} 3\n");
        assert!(e.message.contains("must be a number"), "{e}");
        let e = error("# TYPE s summary\ns 3\n");
        assert!(e.message.contains("'quantile'"), "{e}");
        // _sum and _count need neither.
        parse("# TYPE s summary\ns_sum 3\ns_count 2\n").unwrap();
    }

    #[test]
    fn label_limits_are_enforced() {
        let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}=\"v\"")).collect();
        let text = format!("a{{{}}} 1", many.join(","));
        assert!(error(&text).message.contains("more than"));
        let long = "x".repeat(MAX_LABEL_VALUE_BYTES + 1);
        assert!(error(&format!("a{{l=\"{long}\"}} 1"))
            .message
            .contains("bytes"));
    }

    #[test]
    fn utf8_label_values_survive() {
        let e = parse("a{city=\"Zürich \\\"süd\\\"\"} 1").unwrap();
        assert_eq!(labels(&e.samples[0]), [("city", "Zürich \"süd\"")]);
    }
}
