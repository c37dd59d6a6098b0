//! The metric-rule expression language: a documented subset of PromQL, parsed by recursive
//! descent into a typed tree.
//!
//! Supported, with PromQL's meaning and precedence (`^`; `* / %`; `+ -`; comparisons;
//! `and unless`; `or`):
//! - selectors `name{label="v", label!="v", label=~"re", label!~"re"}` and range selectors
//!   `name{…}[5m]` (durations `ms s m h d w y`, combinable as `1h30m`);
//! - numbers (also `Inf`, `NaN`, and durations as seconds: `4h` is 14400);
//! - arithmetic and comparisons between vectors and scalars (`bool` modifier), and between
//!   vectors one-to-one with `on(…)`/`ignoring(…)`; `and`/`or`/`unless` with the same;
//! - aggregations `sum avg min max count stddev quantile` with `by (…)`/`without (…)`;
//! - functions: see [`Func`].
//!
//! Not supported, refused with a message naming it: `offset`, `@`, `group_left`,
//! `group_right`, subqueries, string results.

use std::fmt;

use regex::Regex;

/// A parse or type fault, with the 1-based column where it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

/// One label matcher; regexes are anchored at both ends as in PromQL.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(label: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regex for label '{label}': {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            label: label.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// Whether a label value (empty when the label is missing, as in PromQL) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// A vector selector: an optional fixed metric name and label matchers.
#[derive(Clone, Debug)]
pub struct Selector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// Index in the engine's selector table, set when the rule set is compiled.
    pub id: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Rate,
    Increase,
    Irate,
    Delta,
    Deriv,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    StddevOverTime,
    QuantileOverTime,
    /// `(last − mean) / stddev` over the window: how far the newest sample breaks from the
    /// series' own recent history. No result when the window has fewer than 3 samples or
    /// no variance (nothing to judge against).
    ZscoreOverTime,
    AbsentOverTime,
    Absent,
    PredictLinear,
    Abs,
    Ceil,
    Floor,
    ClampMin,
    ClampMax,
    Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "a number",
            ValueType::Vector => "an instant vector",
            ValueType::Matrix => "a range vector like x[5m]",
        })
    }
}

impl Func {
    fn lookup(name: &str) -> Option<(Func, &'static [ValueType], ValueType)> {
        use ValueType::*;
        const M: &[ValueType] = &[Matrix];
        const V: &[ValueType] = &[Vector];
        Some(match name {
            "rate" => (Func::Rate, M, Vector),
            "increase" => (Func::Increase, M, Vector),
            "irate" => (Func::Irate, M, Vector),
            "delta" => (Func::Delta, M, Vector),
            "deriv" => (Func::Deriv, M, Vector),
            "avg_over_time" => (Func::AvgOverTime, M, Vector),
            "min_over_time" => (Func::MinOverTime, M, Vector),
            "max_over_time" => (Func::MaxOverTime, M, Vector),
            "sum_over_time" => (Func::SumOverTime, M, Vector),
            "count_over_time" => (Func::CountOverTime, M, Vector),
            "last_over_time" => (Func::LastOverTime, M, Vector),
            "stddev_over_time" => (Func::StddevOverTime, M, Vector),
            "quantile_over_time" => (Func::QuantileOverTime, &[Scalar, Matrix], Vector),
            "zscore_over_time" => (Func::ZscoreOverTime, M, Vector),
            "absent_over_time" => (Func::AbsentOverTime, M, Vector),
            "absent" => (Func::Absent, V, Vector),
            "predict_linear" => (Func::PredictLinear, &[Matrix, Scalar], Vector),
            "abs" => (Func::Abs, V, Vector),
            "ceil" => (Func::Ceil, V, Vector),
            "floor" => (Func::Floor, V, Vector),
            "clamp_min" => (Func::ClampMin, &[Vector, Scalar], Vector),
            "clamp_max" => (Func::ClampMax, &[Vector, Scalar], Vector),
            "time" => (Func::Time, &[], Scalar),
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Quantile,
}

impl AggOp {
    fn lookup(name: &str) -> Option<AggOp> {
        Some(match name {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "count" => AggOp::Count,
            "stddev" => AggOp::Stddev,
            "quantile" => AggOp::Quantile,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }
}

/// Which labels two vectors are matched on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Matching {
    /// All labels but the metric name.
    #[default]
    All,
    On(Vec<String>),
    Ignoring(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum Expr {
    Number(f64),
    Vector(Selector),
    Range {
        selector: Selector,
        range_ms: i64,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
    },
    Aggregate {
        op: AggOp,
        grouping: Grouping,
        param: Option<Box<Expr>>,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        matching: Matching,
        return_bool: bool,
    },
    Neg(Box<Expr>),
}

impl Expr {
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::Vector(_) | Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Range { .. } => ValueType::Matrix,
            Expr::Call { func, .. } => Func::lookup_type(*func),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Neg(e) => e.value_type(),
        }
    }

    /// Visit every selector with its range (None for an instant selector).
    pub fn visit_selectors(&mut self, f: &mut dyn FnMut(&mut Selector, Option<i64>)) {
        match self {
            Expr::Vector(s) => f(s, None),
            Expr::Range { selector, range_ms } => f(selector, Some(*range_ms)),
            Expr::Call { args, .. } => args.iter_mut().for_each(|a| a.visit_selectors(f)),
            Expr::Aggregate { param, expr, .. } => {
                if let Some(p) = param {
                    p.visit_selectors(f);
                }
                expr.visit_selectors(f);
            }
            Expr::Binary { lhs, rhs, .. } => {
                lhs.visit_selectors(f);
                rhs.visit_selectors(f);
            }
            Expr::Neg(e) => e.visit_selectors(f),
            Expr::Number(_) => {}
        }
    }
}

impl Func {
    fn lookup_type(func: Func) -> ValueType {
        if func == Func::Time {
            ValueType::Scalar
        } else {
            ValueType::Vector
        }
    }
}

/// Parse a duration such as `5m`, `1h30m`, `250ms`, `7d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = text[start..i].parse().ok()?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit: i64 = match &text[unit_start..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Number(f64),
    Str(String),
    /// The text between `[` and `]`.
    Range(String),
    Op(&'static str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Eof,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

const OPS: [&str; 18] = [
    "==", "!=", ">=", "<=", "=~", "!~", "=", ">", "<", "+", "-", "*", "/", "%", "^", "@", ":", "!",
];

impl<'a> Lexer<'a> {
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            column: self.src[..at.min(self.src.len())].chars().count() + 1,
            message: message.into(),
        })
    }

    fn next(&mut self) -> Result<(usize, Tok), ExprError> {
        let b = self.src.as_bytes();
        while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = b.get(self.pos) else {
            return Ok((start, Tok::Eof));
        };
        let tok = match c {
            b'(' => {
                self.pos += 1;
                Tok::LParen
            }
            b')' => {
                self.pos += 1;
                Tok::RParen
            }
            b'{' => {
                self.pos += 1;
                Tok::LBrace
            }
            b'}' => {
                self.pos += 1;
                Tok::RBrace
            }
            b',' => {
                self.pos += 1;
                Tok::Comma
            }
            b'[' => {
                let Some(end) = self.src[start..].find(']') else {
                    return self.err(start, "missing ']' after the range");
                };
                self.pos = start + end + 1;
                let inner = self.src[start + 1..start + end].trim();
                if inner.contains(':') {
                    return self.err(start, "subqueries ([range:step]) are not supported");
                }
                Tok::Range(inner.to_string())
            }
            b'"' | b'\'' | b'`' => Tok::Str(self.string(c)?),
            b'0'..=b'9' | b'.' => self.number()?,
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                while self.pos < b.len()
                    && (b[self.pos].is_ascii_alphanumeric()
                        || b[self.pos] == b'_'
                        || b[self.pos] == b':')
                {
                    self.pos += 1;
                }
                Tok::Ident(self.src[start..self.pos].to_string())
            }
            _ => {
                let Some(op) = OPS.iter().find(|op| self.src[start..].starts_with(**op)) else {
                    let ch = self.src[start..].chars().next().unwrap_or(' ');
                    return self.err(start, format!("unexpected character '{ch}'"));
                };
                self.pos += op.len();
                Tok::Op(op)
            }
        };
        Ok((start, tok))
    }

    fn string(&mut self, quote: u8) -> Result<String, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let b = self.src.as_bytes();
        loop {
            let Some(&c) = b.get(self.pos) else {
                return self.err(start, "unterminated string");
            };
            if c == quote {
                self.pos += 1;
                return Ok(out);
            }
            if c == b'\\' && quote != b'`' {
                let Some(&e) = b.get(self.pos + 1) else {
                    return self.err(start, "unterminated string");
                };
                let unescaped = match e {
                    b'n' => '\n',
                    b't' => '\t',
                    b'\\' => '\\',
                    b'"' => '"',
                    b'\'' => '\'',
                    // Regexes keep their escapes: "\\." and "\." both mean a literal dot.
                    _ => {
                        out.push('\\');
                        e as char
                    }
                };
                out.push(unescaped);
                self.pos += 2;
                continue;
            }
            let ch = self.src[self.pos..].chars().next().unwrap_or(' ');
            out.push(ch);
            self.pos += ch.len_utf8();
        }
    }

    fn number(&mut self) -> Result<Tok, ExprError> {
        let b = self.src.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && (b[self.pos].is_ascii_alphanumeric() || b[self.pos] == b'.') {
            // An exponent sign belongs to the number: 1e-3.
            self.pos += 1;
            if self.pos < b.len()
                && (b[self.pos] == b'-' || b[self.pos] == b'+')
                && matches!(b[self.pos - 1], b'e' | b'E')
                && !self.src[start..self.pos].starts_with("0x")
            {
                self.pos += 1;
            }
        }
        let text = &self.src[start..self.pos];
        if let Ok(v) = text.parse::<f64>() {
            if !text.eq_ignore_ascii_case("inf") && !text.eq_ignore_ascii_case("nan") {
                return Ok(Tok::Number(v));
            }
        }
        if let Some(ms) = parse_duration_ms(text) {
            return Ok(Tok::Number(ms as f64 / 1000.0));
        }
        self.err(start, format!("invalid number or duration '{text}'"))
    }
}

/// Parse an expression. `lookback_ms` is not needed here; types are checked.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let mut p = Parser::new(src)?;
    let e = p.expr(0)?;
    if p.tok != Tok::Eof {
        return p.err(format!(
            "unexpected {} after the expression",
            describe(&p.tok)
        ));
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Range(r) => format!("range [{r}]"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::Eof => "end of expression".into(),
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    at: usize,
}

fn binop(t: &Tok) -> Option<BinOp> {
    Some(match t {
        Tok::Op("+") => BinOp::Add,
        Tok::Op("-") => BinOp::Sub,
        Tok::Op("*") => BinOp::Mul,
        Tok::Op("/") => BinOp::Div,
        Tok::Op("%") => BinOp::Mod,
        Tok::Op("^") => BinOp::Pow,
        Tok::Op("==") => BinOp::Eq,
        Tok::Op("!=") => BinOp::Ne,
        Tok::Op(">") => BinOp::Gt,
        Tok::Op("<") => BinOp::Lt,
        Tok::Op(">=") => BinOp::Ge,
        Tok::Op("<=") => BinOp::Le,
        Tok::Ident(s) if s == "and" => BinOp::And,
        Tok::Ident(s) if s == "or" => BinOp::Or,
        Tok::Ident(s) if s == "unless" => BinOp::Unless,
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ExprError> {
        let mut lex = Lexer { src, pos: 0 };
        let (at, tok) = lex.next()?;
        Ok(Parser { lex, tok, at })
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        self.lex.err(self.at, message)
    }

    fn bump(&mut self) -> Result<Tok, ExprError> {
        let (at, tok) = self.lex.next()?;
        self.at = at;
        Ok(std::mem::replace(&mut self.tok, tok))
    }

    fn expect(&mut self, want: Tok) -> Result<(), ExprError> {
        if self.tok != want {
            return self.err(format!(
                "expected {}, found {}",
                describe(&want),
                describe(&self.tok)
            ));
        }
        self.bump()?;
        Ok(())
    }

    /// Precedence climbing; `^` is right-associative.
    fn expr(&mut self, min_prec: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        while let Some(op) = binop(&self.tok) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_at = self.at;
            self.bump()?;
            let mut return_bool = false;
            if matches!(&self.tok, Tok::Ident(s) if s == "bool") {
                if !op.is_comparison() {
                    return self.err("'bool' only follows a comparison operator");
                }
                return_bool = true;
                self.bump()?;
            }
            let mut matching = Matching::All;
            if let Tok::Ident(s) = &self.tok {
                if s == "on" || s == "ignoring" {
                    let on = s == "on";
                    self.bump()?;
                    let labels = self.label_list()?;
                    matching = if on {
                        Matching::On(labels)
                    } else {
                        Matching::Ignoring(labels)
                    };
                }
            }
            if matches!(&self.tok, Tok::Ident(s) if s == "group_left" || s == "group_right") {
                return self.err("group_left/group_right (many-to-one matching) are not supported");
            }
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            lhs = self.binary(op_at, op, lhs, rhs, matching, return_bool)?;
        }
        Ok(lhs)
    }

    fn binary(
        &self,
        at: usize,
        op: BinOp,
        lhs: Expr,
        rhs: Expr,
        matching: Matching,
        return_bool: bool,
    ) -> Result<Expr, ExprError> {
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        for t in [lt, rt] {
            if t == ValueType::Matrix {
                return self.lex.err(
                    at,
                    "a range vector like x[5m] cannot be an operand; wrap it in a function such as rate()",
                );
            }
        }
        if op.is_set() && (lt != ValueType::Vector || rt != ValueType::Vector) {
            return self
                .lex
                .err(at, "and/or/unless need instant vectors on both sides");
        }
        if op.is_comparison() && lt == ValueType::Scalar && rt == ValueType::Scalar && !return_bool
        {
            return self.lex.err(at, "comparisons between numbers need 'bool'");
        }
        if matching != Matching::All && (lt != ValueType::Vector || rt != ValueType::Vector) {
            return self
                .lex
                .err(at, "on()/ignoring() need instant vectors on both sides");
        }
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            matching,
            return_bool,
        })
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        match self.tok {
            Tok::Op("-") => {
                self.bump()?;
                let e = self.unary()?;
                // -2^2 is -(2^2) as in PromQL.
                let e = self.pow_tail(e)?;
                Ok(match e {
                    Expr::Number(n) => Expr::Number(-n),
                    e => Expr::Neg(Box::new(e)),
                })
            }
            Tok::Op("+") => {
                self.bump()?;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn pow_tail(&mut self, lhs: Expr) -> Result<Expr, ExprError> {
        if self.tok == Tok::Op("^") {
            let at = self.at;
            self.bump()?;
            let rhs = self.expr(BinOp::Pow.precedence())?;
            return self.binary(at, BinOp::Pow, lhs, rhs, Matching::All, false);
        }
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at;
        let e = match self.bump()? {
            Tok::Number(n) => Expr::Number(n),
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect(Tok::RParen)?;
                e
            }
            Tok::LBrace => {
                let matchers = self.matchers_after_brace()?;
                self.selector(at, None, matchers)?
            }
            Tok::Ident(name) => self.ident(at, name)?,
            Tok::Str(_) => return self.lex.err(at, "string values are not supported here"),
            other => {
                return self.lex.err(
                    at,
                    format!("expected an expression, found {}", describe(&other)),
                )
            }
        };
        self.postfix(e)
    }

    fn postfix(&mut self, e: Expr) -> Result<Expr, ExprError> {
        match &self.tok {
            Tok::Range(_) => self.err("a range [..] applies to a metric selector only"),
            Tok::Ident(s) if s == "offset" => self.err("'offset' is not supported"),
            Tok::Op("@") => self.err("'@' modifiers are not supported"),
            _ => Ok(e),
        }
    }

    fn ident(&mut self, at: usize, name: String) -> Result<Expr, ExprError> {
        match name.as_str() {
            "Inf" | "inf" | "+Inf" => return Ok(Expr::Number(f64::INFINITY)),
            "NaN" | "nan" => return Ok(Expr::Number(f64::NAN)),
            _ => {}
        }
        if let Some(op) = AggOp::lookup(&name) {
            if matches!(self.tok, Tok::LParen)
                || matches!(&self.tok, Tok::Ident(s) if s == "by" || s == "without")
            {
                return self.aggregate(at, op, &name);
            }
        }
        if self.tok == Tok::LParen {
            let Some((func, params, _)) = Func::lookup(&name) else {
                return self.lex.err(at, format!("unknown function '{name}'"));
            };
            self.bump()?;
            let mut args = Vec::new();
            while self.tok != Tok::RParen {
                if !args.is_empty() {
                    self.expect(Tok::Comma)?;
                }
                args.push(self.expr(0)?);
            }
            self.bump()?;
            if args.len() != params.len() {
                return self.lex.err(
                    at,
                    format!(
                        "'{name}' takes {} argument(s), got {}",
                        params.len(),
                        args.len()
                    ),
                );
            }
            for (i, (a, want)) in args.iter().zip(params.iter()).enumerate() {
                if a.value_type() != *want {
                    return self.lex.err(
                        at,
                        format!(
                            "'{name}' expects {want} as argument {}, got {}",
                            i + 1,
                            a.value_type()
                        ),
                    );
                }
            }
            return Ok(Expr::Call { func, args });
        }
        if matches!(
            name.as_str(),
            "by" | "without" | "on" | "ignoring" | "bool" | "and" | "or" | "unless" | "offset"
        ) {
            return self.lex.err(at, format!("unexpected keyword '{name}'"));
        }
        let matchers = if self.tok == Tok::LBrace {
            self.bump()?;
            self.matchers_after_brace()?
        } else {
            Vec::new()
        };
        self.selector(at, Some(name), matchers)
    }

    fn selector(
        &mut self,
        at: usize,
        mut name: Option<String>,
        mut matchers: Vec<Matcher>,
    ) -> Result<Expr, ExprError> {
        if let Some(i) = matchers
            .iter()
            .position(|m| m.label == "__name__" && m.op == MatchOp::Eq)
        {
            if name.is_some() {
                return self.lex.err(at, "metric name given twice");
            }
            name = Some(matchers.remove(i).value);
        }
        if name.is_none() && matchers.iter().all(|m| m.matches("")) {
            return self.lex.err(
                at,
                "a selector needs a metric name or a matcher that does not match the empty string",
            );
        }
        let selector = Selector {
            name,
            matchers,
            id: usize::MAX,
        };
        if let Tok::Range(text) = &self.tok {
            let Some(range_ms) = parse_duration_ms(text) else {
                return self.err(format!("invalid duration '{text}' (e.g. 30s, 5m, 1h30m)"));
            };
            if range_ms <= 0 {
                return self.err("a range must be positive");
            }
            self.bump()?;
            return self.postfix(Expr::Range { selector, range_ms });
        }
        Ok(Expr::Vector(selector))
    }

    /// Matchers after `{`, through the closing `}`.
    fn matchers_after_brace(&mut self) -> Result<Vec<Matcher>, ExprError> {
        let mut out = Vec::new();
        loop {
            if self.tok == Tok::RBrace {
                self.bump()?;
                return Ok(out);
            }
            let at = self.at;
            let Tok::Ident(label) = self.bump()? else {
                return self.lex.err(at, "expected a label name in the selector");
            };
            let op = match self.bump()? {
                Tok::Op("=") => MatchOp::Eq,
                Tok::Op("!=") => MatchOp::Ne,
                Tok::Op("=~") => MatchOp::Re,
                Tok::Op("!~") => MatchOp::Nre,
                other => {
                    return self.lex.err(
                        at,
                        format!(
                            "label '{label}': expected =, !=, =~ or !~, found {}",
                            describe(&other)
                        ),
                    )
                }
            };
            let vat = self.at;
            let Tok::Str(value) = self.bump()? else {
                return self
                    .lex
                    .err(vat, format!("label '{label}': expected a quoted value"));
            };
            out.push(Matcher::new(&label, op, &value).map_err(|m| ExprError {
                column: vat + 1,
                message: m,
            })?);
            match self.tok {
                Tok::Comma => {
                    self.bump()?;
                }
                Tok::RBrace => {}
                _ => {
                    return self.err(format!(
                        "expected ',' or '}}', found {}",
                        describe(&self.tok)
                    ))
                }
            }
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, ExprError> {
        self.expect(Tok::LParen)?;
        let mut out = Vec::new();
        while self.tok != Tok::RParen {
            if !out.is_empty() {
                self.expect(Tok::Comma)?;
                if self.tok == Tok::RParen {
                    break;
                }
            }
            match self.bump()? {
                Tok::Ident(s) => out.push(s),
                other => {
                    return self.err(format!("expected a label name, found {}", describe(&other)))
                }
            }
        }
        self.bump()?;
        Ok(out)
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ExprError> {
        let by = match &self.tok {
            Tok::Ident(s) if s == "by" => true,
            Tok::Ident(s) if s == "without" => false,
            _ => return Ok(None),
        };
        self.bump()?;
        let labels = self.label_list()?;
        Ok(Some(if by {
            Grouping::By(labels)
        } else {
            Grouping::Without(labels)
        }))
    }

    fn aggregate(&mut self, at: usize, op: AggOp, name: &str) -> Result<Expr, ExprError> {
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen)?;
        let mut param = None;
        if op == AggOp::Quantile {
            param = Some(Box::new(self.expr(0)?));
            self.expect(Tok::Comma)?;
        }
        let expr = self.expr(0)?;
        self.expect(Tok::RParen)?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if expr.value_type() != ValueType::Vector {
            return self.lex.err(
                at,
                format!(
                    "'{name}' aggregates an instant vector, got {}",
                    expr.value_type()
                ),
            );
        }
        if let Some(p) = &param {
            if p.value_type() != ValueType::Scalar {
                return self
                    .lex
                    .err(at, "quantile's first argument must be a number");
            }
        }
        Ok(Expr::Aggregate {
            op,
            grouping: grouping.unwrap_or(Grouping::By(Vec::new())),
            param,
            expr: Box::new(expr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src).expect_err(src).to_string()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("5x"), None);
        assert_eq!(parse_duration_ms(""), None);
    }

    #[test]
    fn parses_the_supported_forms() {
        for src in [
            "cpu_usage_percent > 90",
            "up{job=\"node\", instance!~\"10\\\\..*\"} == 0",
            "rate(net_errors_total{direction=\"rx\"}[5m]) > 1",
            "sum by (host) (rate(x[1m])) / on(host) sum by (host) (rate(y[1m])) > 0.1",
            "avg(x) without (cpu) > 2",
            "quantile_over_time(0.9, x[10m]) > bool 3",
            "predict_linear(disk_free_bytes[6h], 4h) < 0",
            "load1 > on(host) cpu_count",
            "a and b or c unless d",
            "-x + 2 ^ 3 ^ 2 > 1",
            "absent_over_time(up{job=\"x\"}[10m])",
            "{__name__=\"x\", a=\"b\"}",
            "zscore_over_time(x[1h]) > 3",
            "count(x > 1) > 0",
            "time() - x > 60",
        ] {
            let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(e.value_type(), ValueType::Vector, "{src}");
        }
    }

    #[test]
    fn precedence_follows_promql() {
        // a or b and c  ==  a or (b and c)
        let Expr::Binary { op, rhs, .. } = parse("a or b and c").unwrap() else {
            panic!()
        };
        assert_eq!(op, BinOp::Or);
        assert!(matches!(*rhs, Expr::Binary { op: BinOp::And, .. }));
        // 2 ^ 3 ^ 2 is right-associative: 2^9
        let Expr::Binary { rhs, .. } = parse("2 ^ 3 ^ 2 > bool 1").unwrap() else {
            panic!()
        };
        let _ = rhs;
        assert!(matches!(parse("-2 ^ 2").unwrap(), Expr::Neg(_)));
    }

    #[test]
    fn errors_are_specific() {
        assert!(err("foo(x)").contains("unknown function 'foo'"));
        assert!(err("rate(x[5x])").contains("invalid duration '5x'"));
        assert!(err("rate(x)").contains("expects a range vector"));
        assert!(err("x[5m] > 1").contains("cannot be an operand"));
        assert!(err("x offset 5m").contains("offset"));
        assert!(err("x > ").contains("expected an expression"));
        assert!(err("x{a=1}").contains("expected a quoted value"));
        assert!(err("x{a=~\"(\"}").contains("invalid regex"));
        assert!(err("{a=~\".*\"}").contains("needs a metric name"));
        assert!(err("1 > 2").contains("need 'bool'"));
        assert!(err("x + on(a) group_left y").contains("group_left"));
        assert!(err("x[5m:1m]").contains("subqueries"));
        assert!(err("(x) y").contains("unexpected"));
        assert!(err("predict_linear(x[1h])").contains("takes 2 argument(s)"));
        assert!(err("x{a=\"b\"").contains("expected"));
        assert!(err("x $ 1").contains("unexpected character '$'"));
        let e = parse("x > foo(y)").unwrap_err();
        assert_eq!(e.column, 5);
    }

    #[test]
    fn matchers_treat_missing_labels_as_empty() {
        let m = Matcher::new("a", MatchOp::Re, "web.*").unwrap();
        assert!(m.matches("web1"));
        assert!(!m.matches("xweb1"), "regexes are anchored");
        assert!(Matcher::new("a", MatchOp::Nre, "web.*")
            .unwrap()
            .matches(""));
        assert!(Matcher::new("a", MatchOp::Ne, "x").unwrap().matches(""));
        assert!(!Matcher::new("a", MatchOp::Eq, "x").unwrap().matches(""));
    }
}
