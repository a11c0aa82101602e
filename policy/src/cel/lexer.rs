//! CEL tokens.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Ident(String),
    True,
    False,
    Null,
    In,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Dot,
    DotQuestion,
    LBracketQuestion,
    Comma,
    Colon,
    Question,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Eof,
}

pub fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let two = |n: char| chars.get(i + 1) == Some(&n);
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' if two('?') => {
                i += 1;
                Tok::LBracketQuestion
            }
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '.' if two('?') => {
                i += 1;
                Tok::DotQuestion
            }
            '.' if chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let (tok, len) = number(&chars[i..])?;
                i += len;
                out.push((start, tok));
                continue;
            }
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            '?' => Tok::Question,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '!' if two('=') => {
                i += 1;
                Tok::Ne
            }
            '!' => Tok::Bang,
            '=' if two('=') => {
                i += 1;
                Tok::Eq
            }
            '<' if two('=') => {
                i += 1;
                Tok::Le
            }
            '<' => Tok::Lt,
            '>' if two('=') => {
                i += 1;
                Tok::Ge
            }
            '>' => Tok::Gt,
            '&' if two('&') => {
                i += 1;
                Tok::And
            }
            '|' if two('|') => {
                i += 1;
                Tok::Or
            }
            '"' | '\'' => {
                let (s, len) = string(&chars[i..], false)?;
                i += len;
                out.push((start, Tok::Str(s)));
                continue;
            }
            d if d.is_ascii_digit() => {
                let (tok, len) = number(&chars[i..])?;
                i += len;
                out.push((start, tok));
                continue;
            }
            a if a.is_ascii_alphabetic() || a == '_' => {
                // raw / bytes string prefixes
                if matches!(a, 'r' | 'R' | 'b' | 'B') && matches!(chars.get(i + 1), Some('"') | Some('\'')) {
                    let raw = matches!(a, 'r' | 'R');
                    let (s, len) = string(&chars[i + 1..], raw)?;
                    i += 1 + len;
                    out.push((start, if matches!(a, 'b' | 'B') { Tok::Bytes(s.into_bytes()) } else { Tok::Str(s) }));
                    continue;
                }
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                i = j;
                out.push((
                    start,
                    match word.as_str() {
                        "true" => Tok::True,
                        "false" => Tok::False,
                        "null" => Tok::Null,
                        "in" => Tok::In,
                        _ => Tok::Ident(word),
                    },
                ));
                continue;
            }
            other => return Err(format!("unexpected character {other:?} at {i}")),
        };
        i += 1;
        out.push((start, tok));
    }
    out.push((chars.len(), Tok::Eof));
    Ok(out)
}

fn number(chars: &[char]) -> Result<(Tok, usize), String> {
    let mut i = 0;
    if chars.first() == Some(&'0') && matches!(chars.get(1), Some('x') | Some('X')) {
        i = 2;
        while i < chars.len() && chars[i].is_ascii_hexdigit() {
            i += 1;
        }
        let text: String = chars[2..i].iter().collect();
        if chars.get(i).is_some_and(|c| *c == 'u' || *c == 'U') {
            return u64::from_str_radix(&text, 16).map(|v| (Tok::Uint(v), i + 1)).map_err(|e| e.to_string());
        }
        return i64::from_str_radix(&text, 16).map(|v| (Tok::Int(v), i)).map_err(|e| e.to_string());
    }
    let mut is_double = false;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        is_double = true;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(chars.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+') | Some('-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
            is_double = true;
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = chars[..i].iter().collect();
    if is_double {
        return text.parse::<f64>().map(|v| (Tok::Double(v), i)).map_err(|e| e.to_string());
    }
    if chars.get(i).is_some_and(|c| *c == 'u' || *c == 'U') {
        return text.parse::<u64>().map(|v| (Tok::Uint(v), i + 1)).map_err(|e| e.to_string());
    }
    text.parse::<i64>().map(|v| (Tok::Int(v), i)).map_err(|e| format!("invalid int literal {text}: {e}"))
}

fn string(chars: &[char], raw: bool) -> Result<(String, usize), String> {
    let quote = chars[0];
    let triple = chars.get(1) == Some(&quote) && chars.get(2) == Some(&quote);
    let mut i = if triple { 3 } else { 1 };
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(i) else { return Err("unterminated string".into()) };
        if triple {
            if c == quote && chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                return Ok((out, i + 3));
            }
        } else if c == quote {
            return Ok((out, i + 1));
        } else if c == '\n' {
            return Err("newline in string".into());
        }
        if c == '\\' && !raw {
            let Some(&e) = chars.get(i + 1) else { return Err("unterminated escape".into()) };
            i += 2;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '\'' | '"' | '`' | '?' => out.push(e),
                'x' | 'X' | 'u' | 'U' => {
                    let n = match e {
                        'x' | 'X' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.get(i..i + n).ok_or("short escape")?.iter().collect();
                    let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                    out.push(char::from_u32(code).ok_or("invalid code point")?);
                    i += n;
                }
                '0'..='7' => {
                    let oct: String = chars.get(i - 1..i + 2).ok_or("short escape")?.iter().collect();
                    let code = u32::from_str_radix(&oct, 8).map_err(|e| e.to_string())?;
                    out.push(char::from_u32(code).ok_or("invalid code point")?);
                    i += 2;
                }
                other => return Err(format!("invalid escape \\{other}")),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
}
