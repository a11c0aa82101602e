//! CEL parser (recursive descent over the grammar of cel-spec), with the standard macros (`has`, `all`,
//! `exists`, `exists_one`, `map`, `filter`), `cel.bind` and optional syntax (`a.?b`, `a[?k]`).
use super::lexer::{Tok, tokenize};
use super::value::Val;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comprehension {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

#[derive(Debug, Clone)]
pub enum Ast {
    Lit(Val),
    Ident(String),
    Select {
        operand: Box<Ast>,
        field: String,
        optional: bool,
    },
    Has(Box<Ast>),
    Index {
        operand: Box<Ast>,
        index: Box<Ast>,
        optional: bool,
    },
    Call {
        target: Option<Box<Ast>>,
        func: String,
        args: Vec<Ast>,
    },
    List(Vec<(Ast, bool)>),
    Map(Vec<(Ast, Ast, bool)>),
    Not(Box<Ast>),
    Neg(Box<Ast>),
    Binary(BinOp, Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Cond(Box<Ast>, Box<Ast>, Box<Ast>),
    Loop {
        kind: Comprehension,
        range: Box<Ast>,
        var: String,
        var2: Option<String>,
        pred: Box<Ast>,
        transform: Option<Box<Ast>>,
    },
    Bind {
        var: String,
        init: Box<Ast>,
        body: Box<Ast>,
    },
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 200;

pub fn parse(src: &str) -> Result<Ast, String> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, pos: 0, depth: 0 };
    let ast = p.expr()?;
    if p.peek() != &Tok::Eof {
        return Err(format!("unexpected {:?} at {}", p.peek(), p.offset()));
    }
    Ok(ast)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.next();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        if self.eat(&t) { Ok(()) } else { Err(format!("expected {t:?}, found {:?} at {}", self.peek(), self.offset())) }
    }

    fn expr(&mut self) -> Result<Ast, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression nested too deeply".into());
        }
        let cond = self.or()?;
        let out = if self.eat(&Tok::Question) {
            let then = self.or()?;
            self.expect(Tok::Colon)?;
            let other = self.expr()?;
            Ast::Cond(Box::new(cond), Box::new(then), Box::new(other))
        } else {
            cond
        };
        self.depth -= 1;
        Ok(out)
    }

    fn or(&mut self) -> Result<Ast, String> {
        let mut lhs = self.and()?;
        while self.eat(&Tok::Or) {
            let rhs = self.and()?;
            lhs = Ast::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Ast, String> {
        let mut lhs = self.relation()?;
        while self.eat(&Tok::And) {
            let rhs = self.relation()?;
            lhs = Ast::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn relation(&mut self) -> Result<Ast, String> {
        let mut lhs = self.addition()?;
        loop {
            let op = match self.peek() {
                Tok::Eq => BinOp::Eq,
                Tok::Ne => BinOp::Ne,
                Tok::Lt => BinOp::Lt,
                Tok::Le => BinOp::Le,
                Tok::Gt => BinOp::Gt,
                Tok::Ge => BinOp::Ge,
                Tok::In => BinOp::In,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.addition()?;
            lhs = Ast::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn addition(&mut self) -> Result<Ast, String> {
        let mut lhs = self.multiplication()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.multiplication()?;
            lhs = Ast::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn multiplication(&mut self) -> Result<Ast, String> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                _ => return Ok(lhs),
            };
            self.next();
            let rhs = self.unary()?;
            lhs = Ast::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Ast, String> {
        match self.peek() {
            Tok::Bang => {
                self.next();
                Ok(Ast::Not(Box::new(self.unary()?)))
            }
            Tok::Minus => {
                self.next();
                // Fold negative literals so that -9223372036854775808 parses.
                match self.peek().clone() {
                    Tok::Int(_) | Tok::Double(_) => {
                        let inner = self.member()?;
                        match inner {
                            Ast::Lit(Val::Int(i)) => Ok(Ast::Lit(Val::Int(-i))),
                            Ast::Lit(Val::Double(d)) => Ok(Ast::Lit(Val::Double(-d))),
                            other => Ok(Ast::Neg(Box::new(other))),
                        }
                    }
                    _ => Ok(Ast::Neg(Box::new(self.unary()?))),
                }
            }
            _ => self.member(),
        }
    }

    fn args(&mut self, close: Tok) -> Result<Vec<Ast>, String> {
        let mut out = Vec::new();
        if self.eat(&close) {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat(&Tok::Comma) {
                if self.eat(&close) {
                    return Ok(out);
                }
                continue;
            }
            self.expect(close)?;
            return Ok(out);
        }
    }

    fn member(&mut self) -> Result<Ast, String> {
        let mut operand = self.primary()?;
        loop {
            match self.peek().clone() {
                Tok::Dot | Tok::DotQuestion => {
                    let optional = self.next() == Tok::DotQuestion;
                    let Tok::Ident(name) = self.next() else {
                        return Err(format!("expected field name at {}", self.offset()));
                    };
                    if !optional && self.peek() == &Tok::LParen {
                        self.next();
                        let args = self.args(Tok::RParen)?;
                        operand = macro_or_call(Some(operand), name, args)?;
                    } else {
                        operand = Ast::Select { operand: Box::new(operand), field: name, optional };
                    }
                }
                Tok::LBracket | Tok::LBracketQuestion => {
                    let optional = self.next() == Tok::LBracketQuestion;
                    let index = self.expr()?;
                    self.expect(Tok::RBracket)?;
                    operand = Ast::Index { operand: Box::new(operand), index: Box::new(index), optional };
                }
                _ => return Ok(operand),
            }
        }
    }

    fn primary(&mut self) -> Result<Ast, String> {
        let at = self.offset();
        match self.next() {
            Tok::Int(i) => Ok(Ast::Lit(Val::Int(i))),
            Tok::Uint(u) => Ok(Ast::Lit(Val::Uint(u))),
            Tok::Double(d) => Ok(Ast::Lit(Val::Double(d))),
            Tok::Str(s) => Ok(Ast::Lit(Val::str(&s))),
            Tok::Bytes(b) => Ok(Ast::Lit(Val::Bytes(b.into()))),
            Tok::True => Ok(Ast::Lit(Val::Bool(true))),
            Tok::False => Ok(Ast::Lit(Val::Bool(false))),
            Tok::Null => Ok(Ast::Lit(Val::Null)),
            Tok::Dot => match self.next() {
                Tok::Ident(name) => self.ident(name),
                other => Err(format!("unexpected {other:?} at {at}")),
            },
            Tok::Ident(name) => self.ident(name),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if !self.eat(&Tok::RBracket) {
                    loop {
                        let optional = self.eat(&Tok::Question);
                        items.push((self.expr()?, optional));
                        if self.eat(&Tok::Comma) {
                            if self.eat(&Tok::RBracket) {
                                break;
                            }
                            continue;
                        }
                        self.expect(Tok::RBracket)?;
                        break;
                    }
                }
                Ok(Ast::List(items))
            }
            Tok::LBrace => {
                let mut entries = Vec::new();
                if !self.eat(&Tok::RBrace) {
                    loop {
                        let optional = self.eat(&Tok::Question);
                        let k = self.expr()?;
                        self.expect(Tok::Colon)?;
                        let v = self.expr()?;
                        entries.push((k, v, optional));
                        if self.eat(&Tok::Comma) {
                            if self.eat(&Tok::RBrace) {
                                break;
                            }
                            continue;
                        }
                        self.expect(Tok::RBrace)?;
                        break;
                    }
                }
                Ok(Ast::Map(entries))
            }
            other => Err(format!("unexpected {other:?} at {at}")),
        }
    }

    fn ident(&mut self, name: String) -> Result<Ast, String> {
        if self.peek() == &Tok::LParen {
            self.next();
            let args = self.args(Tok::RParen)?;
            return macro_or_call(None, name, args);
        }
        Ok(Ast::Ident(name))
    }
}

fn var_name(a: &Ast) -> Result<String, String> {
    match a {
        Ast::Ident(n) => Ok(n.clone()),
        _ => Err("macro variable must be an identifier".into()),
    }
}

fn macro_or_call(target: Option<Ast>, func: String, mut args: Vec<Ast>) -> Result<Ast, String> {
    match (target, func.as_str(), args.len()) {
        (None, "has", 1) => match args.pop() {
            Some(sel @ Ast::Select { optional: false, .. }) => Ok(Ast::Has(Box::new(sel))),
            _ => Err("has() requires a field selection".into()),
        },
        (Some(Ast::Ident(ns)), "bind", 3) if ns == "cel" => {
            let body = args.pop().ok_or("bind body")?;
            let init = args.pop().ok_or("bind init")?;
            let var = var_name(&args[0])?;
            Ok(Ast::Bind { var, init: Box::new(init), body: Box::new(body) })
        }
        (Some(range), "all" | "exists" | "exists_one" | "filter" | "existsOne", 2)
        | (Some(range), "map", 2)
        | (Some(range), "all" | "exists" | "existsOne" | "exists_one", 3) => {
            let kind = match func.as_str() {
                "all" => Comprehension::All,
                "exists" => Comprehension::Exists,
                "exists_one" | "existsOne" => Comprehension::ExistsOne,
                "map" => Comprehension::Map,
                _ => Comprehension::Filter,
            };
            let pred = args.pop().ok_or("macro predicate")?;
            let (var, var2) = if args.len() == 2 {
                (var_name(&args[0])?, Some(var_name(&args[1])?))
            } else {
                (var_name(&args[0])?, None)
            };
            Ok(Ast::Loop { kind, range: Box::new(range), var, var2, pred: Box::new(pred), transform: None })
        }
        (Some(range), "map", 3) => {
            let transform = args.pop().ok_or("map transform")?;
            let pred = args.pop().ok_or("map filter")?;
            let var = var_name(&args[0])?;
            Ok(Ast::Loop {
                kind: Comprehension::Map,
                range: Box::new(range),
                var,
                var2: None,
                pred: Box::new(pred),
                transform: Some(Box::new(transform)),
            })
        }
        (target, _, _) => Ok(Ast::Call { target: target.map(Box::new), func, args }),
    }
}
