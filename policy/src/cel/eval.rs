//! CEL evaluation with Kubernetes semantics: missing map keys are errors (`no such key`), `&&`/`||` absorb
//! errors when the other side decides, comprehensions follow cel-spec, and numeric comparisons cross types.
use super::Program;
use super::functions;
use super::parser::{Ast, BinOp, Comprehension};
use super::value::{Key, Val, compare, equals, key_val};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub type EvalResult = Result<Val, String>;

/// Variables visible to an expression.
pub struct Activation<'a> {
    pub vars: HashMap<&'static str, Val>,
    /// `variables.<name>`: composition variables, evaluated on first use.
    pub lazy: &'a [(String, Program)],
    cache: RefCell<HashMap<String, EvalResult>>,
}

impl<'a> Activation<'a> {
    pub fn new(vars: HashMap<&'static str, Val>, lazy: &'a [(String, Program)]) -> Self {
        Activation { vars, lazy, cache: RefCell::new(HashMap::new()) }
    }

    fn variable(&self, name: &str) -> EvalResult {
        if let Some(v) = self.cache.borrow().get(name) {
            return v.clone();
        }
        let Some((_, program)) = self.lazy.iter().find(|(n, _)| n == name) else {
            return Err(format!("no such key: {name}"));
        };
        let result = program.eval(self);
        self.cache.borrow_mut().insert(name.to_string(), result.clone());
        result
    }
}

struct Scope<'s, 'a> {
    act: &'s Activation<'a>,
    locals: Vec<(String, Val)>,
    steps: u64,
}

const MAX_STEPS: u64 = 1_000_000;

pub fn eval(ast: &Ast, act: &Activation<'_>) -> EvalResult {
    let mut scope = Scope { act, locals: Vec::new(), steps: 0 };
    scope.eval(ast)
}

fn no_overload(op: &str, args: &[&Val]) -> String {
    let types: Vec<&str> = args.iter().map(|v| v.type_name()).collect();
    format!("no such overload: {op}({})", types.join(", "))
}

fn select(value: Val, field: &str, optional: bool) -> EvalResult {
    match value {
        Val::Map(m) => match m.get(&Key::Str(Arc::from(field))) {
            Some(v) if optional => Ok(Val::Optional(Some(Box::new(v.clone())))),
            Some(v) => Ok(v.clone()),
            None if optional => Ok(Val::Optional(None)),
            None => Err(format!("no such key: {field}")),
        },
        Val::Optional(None) => Ok(Val::Optional(None)),
        Val::Optional(Some(inner)) => match select(*inner, field, true)? {
            Val::Optional(o) => Ok(Val::Optional(o)),
            other => Ok(Val::Optional(Some(Box::new(other)))),
        },
        other => Err(format!("no such key: {field} (selecting from {})", other.type_name())),
    }
}

fn index(value: Val, idx: Val, optional: bool) -> EvalResult {
    match (&value, &idx) {
        (Val::List(items), _) => {
            let i = match idx {
                Val::Int(i) => i,
                Val::Uint(u) => u as i64,
                Val::Double(d) if d.fract() == 0.0 => d as i64,
                ref other => return Err(no_overload("_[_]", &[&value, other])),
            };
            match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                Some(v) if optional => Ok(Val::Optional(Some(Box::new(v.clone())))),
                Some(v) => Ok(v.clone()),
                None if optional => Ok(Val::Optional(None)),
                None => Err(format!("index out of bounds: {i}")),
            }
        }
        (Val::Map(m), _) => {
            let found = lookup_key(m, &idx);
            match found {
                Some(v) if optional => Ok(Val::Optional(Some(Box::new(v.clone())))),
                Some(v) => Ok(v.clone()),
                None if optional => Ok(Val::Optional(None)),
                None => Err(format!("no such key: {}", idx.display())),
            }
        }
        (Val::Optional(None), _) => Ok(Val::Optional(None)),
        (Val::Optional(Some(inner)), _) => match index((**inner).clone(), idx, true)? {
            Val::Optional(o) => Ok(Val::Optional(o)),
            other => Ok(Val::Optional(Some(Box::new(other)))),
        },
        _ => Err(no_overload("_[_]", &[&value, &idx])),
    }
}

fn lookup_key<'m>(m: &'m BTreeMap<Key, Val>, k: &Val) -> Option<&'m Val> {
    if let Some(key) = k.to_key()
        && let Some(v) = m.get(&key)
    {
        return Some(v);
    }
    // Numeric keys compare across int/uint/double.
    match k {
        Val::Int(_) | Val::Uint(_) | Val::Double(_) => {
            m.iter().find(|(key, _)| equals(&key_val(key), k)).map(|(_, v)| v)
        }
        _ => None,
    }
}

fn arith(op: BinOp, a: &Val, b: &Val) -> EvalResult {
    use Val::*;
    let sym = match op {
        BinOp::Add => "_+_",
        BinOp::Sub => "_-_",
        BinOp::Mul => "_*_",
        BinOp::Div => "_/_",
        _ => "_%_",
    };
    let overflow = || format!("return error for overflow in {sym}");
    match (op, a, b) {
        (BinOp::Add, Int(x), Int(y)) => x.checked_add(*y).map(Int).ok_or_else(overflow),
        (BinOp::Sub, Int(x), Int(y)) => x.checked_sub(*y).map(Int).ok_or_else(overflow),
        (BinOp::Mul, Int(x), Int(y)) => x.checked_mul(*y).map(Int).ok_or_else(overflow),
        (BinOp::Div, Int(_), Int(0)) | (BinOp::Mod, Int(_), Int(0)) => Err("division by zero".into()),
        (BinOp::Div, Int(x), Int(y)) => x.checked_div(*y).map(Int).ok_or_else(overflow),
        (BinOp::Mod, Int(x), Int(y)) => x.checked_rem(*y).map(Int).ok_or_else(overflow),
        (BinOp::Add, Uint(x), Uint(y)) => x.checked_add(*y).map(Uint).ok_or_else(overflow),
        (BinOp::Sub, Uint(x), Uint(y)) => x.checked_sub(*y).map(Uint).ok_or_else(overflow),
        (BinOp::Mul, Uint(x), Uint(y)) => x.checked_mul(*y).map(Uint).ok_or_else(overflow),
        (BinOp::Div, Uint(_), Uint(0)) | (BinOp::Mod, Uint(_), Uint(0)) => Err("division by zero".into()),
        (BinOp::Div, Uint(x), Uint(y)) => Ok(Uint(x / y)),
        (BinOp::Mod, Uint(x), Uint(y)) => Ok(Uint(x % y)),
        (BinOp::Add, Double(x), Double(y)) => Ok(Double(x + y)),
        (BinOp::Sub, Double(x), Double(y)) => Ok(Double(x - y)),
        (BinOp::Mul, Double(x), Double(y)) => Ok(Double(x * y)),
        (BinOp::Div, Double(x), Double(y)) => Ok(Double(x / y)),
        (BinOp::Add, Str(x), Str(y)) => Ok(Val::str(&format!("{x}{y}"))),
        (BinOp::Add, Bytes(x), Bytes(y)) => Ok(Bytes([x.as_ref(), y.as_ref()].concat().into())),
        (BinOp::Add, List(x), List(y)) => {
            let mut out = Vec::with_capacity(x.len() + y.len());
            out.extend(x.iter().cloned());
            out.extend(y.iter().cloned());
            Ok(List(Arc::new(out)))
        }
        (BinOp::Add, Duration(x), Duration(y)) => x.checked_add(*y).map(Duration).ok_or_else(overflow),
        (BinOp::Sub, Duration(x), Duration(y)) => x.checked_sub(*y).map(Duration).ok_or_else(overflow),
        (BinOp::Add, Timestamp(t), Duration(d)) | (BinOp::Add, Duration(d), Timestamp(t)) => {
            Ok(Timestamp(t + i128::from(*d)))
        }
        (BinOp::Sub, Timestamp(t), Duration(d)) => Ok(Timestamp(t - i128::from(*d))),
        (BinOp::Sub, Timestamp(x), Timestamp(y)) => i64::try_from(x - y).map(Duration).map_err(|_| overflow()),
        _ => Err(no_overload(sym, &[a, b])),
    }
}

impl Scope<'_, '_> {
    fn lookup(&self, name: &str) -> EvalResult {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.act.vars.get(name) {
            return Ok(v.clone());
        }
        if name == "variables" {
            let mut m = BTreeMap::new();
            for (n, _) in self.act.lazy {
                m.insert(Key::Str(Arc::from(n.as_str())), self.act.variable(n)?);
            }
            return Ok(Val::Map(Arc::new(m)));
        }
        Err(format!("undeclared reference to '{name}'"))
    }

    fn is_local(&self, name: &str) -> bool {
        self.locals.iter().any(|(n, _)| n == name)
    }

    fn bool_of(v: &Val, what: &str) -> Result<bool, String> {
        match v {
            Val::Bool(b) => Ok(*b),
            other => Err(no_overload(what, &[other])),
        }
    }

    fn eval(&mut self, ast: &Ast) -> EvalResult {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err("operation cancelled: actual cost limit exceeded".into());
        }
        match ast {
            Ast::Lit(v) => Ok(v.clone()),
            Ast::Ident(name) => self.lookup(name),
            Ast::Select { operand, field, optional } => {
                if let Ast::Ident(base) = operand.as_ref()
                    && base == "variables"
                    && !self.is_local("variables")
                    && !self.act.vars.contains_key("variables")
                {
                    let v = self.act.variable(field);
                    return if *optional { Ok(Val::Optional(v.ok().map(Box::new))) } else { v };
                }
                let v = self.eval(operand)?;
                select(v, field, *optional)
            }
            Ast::Has(sel) => {
                let Ast::Select { operand, field, .. } = sel.as_ref() else { return Err("invalid has()".into()) };
                if let Ast::Ident(base) = operand.as_ref()
                    && base == "variables"
                    && !self.is_local("variables")
                {
                    return Ok(Val::Bool(self.act.lazy.iter().any(|(n, _)| n == field)));
                }
                match self.eval(operand)? {
                    Val::Map(m) => Ok(Val::Bool(m.contains_key(&Key::Str(Arc::from(field.as_str()))))),
                    Val::Optional(None) => Ok(Val::Bool(false)),
                    Val::Optional(Some(inner)) => match *inner {
                        Val::Map(m) => Ok(Val::Bool(m.contains_key(&Key::Str(Arc::from(field.as_str()))))),
                        other => Err(format!("invalid type for field selection: {}", other.type_name())),
                    },
                    other => Err(format!("invalid type for field selection: {}", other.type_name())),
                }
            }
            Ast::Index { operand, index: idx, optional } => {
                let v = self.eval(operand)?;
                let i = self.eval(idx)?;
                index(v, i, *optional)
            }
            Ast::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (item, optional) in items {
                    let v = self.eval(item)?;
                    if *optional {
                        match v {
                            Val::Optional(Some(inner)) => out.push(*inner),
                            Val::Optional(None) => {}
                            other => {
                                return Err(format!("optional list element is not optional: {}", other.type_name()));
                            }
                        }
                    } else {
                        out.push(v);
                    }
                }
                Ok(Val::List(Arc::new(out)))
            }
            Ast::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v, optional) in entries {
                    let key = self.eval(k)?;
                    let key = key.to_key().ok_or_else(|| format!("unsupported map key type: {}", key.type_name()))?;
                    let value = self.eval(v)?;
                    let value = if *optional {
                        match value {
                            Val::Optional(Some(inner)) => *inner,
                            Val::Optional(None) => continue,
                            other => return Err(format!("optional map value is not optional: {}", other.type_name())),
                        }
                    } else {
                        value
                    };
                    if out.insert(key, value).is_some() {
                        return Err("Failed with repeated key".into());
                    }
                }
                Ok(Val::Map(Arc::new(out)))
            }
            Ast::Not(e) => {
                let v = self.eval(e)?;
                Ok(Val::Bool(!Self::bool_of(&v, "!_")?))
            }
            Ast::Neg(e) => match self.eval(e)? {
                Val::Int(i) => i.checked_neg().map(Val::Int).ok_or_else(|| "return error for overflow in -_".into()),
                Val::Double(d) => Ok(Val::Double(-d)),
                Val::Duration(d) => Ok(Val::Duration(-d)),
                other => Err(no_overload("-_", &[&other])),
            },
            Ast::And(l, r) => {
                let lv = self.eval(l);
                if let Ok(Val::Bool(false)) = lv {
                    return Ok(Val::Bool(false));
                }
                let rv = self.eval(r);
                match (lv, rv) {
                    (_, Ok(Val::Bool(false))) => Ok(Val::Bool(false)),
                    (Ok(Val::Bool(true)), Ok(Val::Bool(true))) => Ok(Val::Bool(true)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    (Ok(a), Ok(b)) => Err(no_overload("_&&_", &[&a, &b])),
                }
            }
            Ast::Or(l, r) => {
                let lv = self.eval(l);
                if let Ok(Val::Bool(true)) = lv {
                    return Ok(Val::Bool(true));
                }
                let rv = self.eval(r);
                match (lv, rv) {
                    (_, Ok(Val::Bool(true))) => Ok(Val::Bool(true)),
                    (Ok(Val::Bool(false)), Ok(Val::Bool(false))) => Ok(Val::Bool(false)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    (Ok(a), Ok(b)) => Err(no_overload("_||_", &[&a, &b])),
                }
            }
            Ast::Cond(c, t, e) => {
                let cv = self.eval(c)?;
                if Self::bool_of(&cv, "_?_:_")? { self.eval(t) } else { self.eval(e) }
            }
            Ast::Binary(op, l, r) => {
                let a = self.eval(l)?;
                let b = self.eval(r)?;
                match op {
                    BinOp::Eq => Ok(Val::Bool(equals(&a, &b))),
                    BinOp::Ne => Ok(Val::Bool(!equals(&a, &b))),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        let sym = match op {
                            BinOp::Lt => "_<_",
                            BinOp::Le => "_<=_",
                            BinOp::Gt => "_>_",
                            _ => "_>=_",
                        };
                        let ord = compare(&a, &b).ok_or_else(|| no_overload(sym, &[&a, &b]))?;
                        Ok(Val::Bool(match op {
                            BinOp::Lt => ord.is_lt(),
                            BinOp::Le => ord.is_le(),
                            BinOp::Gt => ord.is_gt(),
                            _ => ord.is_ge(),
                        }))
                    }
                    BinOp::In => match &b {
                        Val::List(items) => Ok(Val::Bool(items.iter().any(|i| equals(i, &a)))),
                        Val::Map(m) => Ok(Val::Bool(lookup_key(m, &a).is_some())),
                        other => Err(no_overload("@in", &[&a, other])),
                    },
                    _ => arith(*op, &a, &b),
                }
            }
            Ast::Call { target, func, args } => {
                let target = match target.as_deref() {
                    Some(Ast::Ident(ns))
                        if matches!(ns.as_str(), "optional" | "sets" | "base64")
                            && !self.is_local(ns)
                            && !self.act.vars.contains_key(ns.as_str()) =>
                    {
                        Some(Val::Type(Arc::from(ns.as_str())))
                    }
                    Some(t) => Some(self.eval(t)?),
                    None => None,
                };
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a)?);
                }
                functions::call(target, func, values)
            }
            Ast::Bind { var, init, body } => {
                let v = self.eval(init)?;
                self.locals.push((var.clone(), v));
                let r = self.eval(body);
                self.locals.pop();
                r
            }
            Ast::Loop { kind, range, var, var2, pred, transform } => {
                self.comprehension(*kind, range, var, var2.as_deref(), pred, transform.as_deref())
            }
        }
    }

    fn with_locals(&mut self, bindings: Vec<(String, Val)>, e: &Ast) -> EvalResult {
        let n = bindings.len();
        self.locals.extend(bindings);
        let r = self.eval(e);
        self.locals.truncate(self.locals.len() - n);
        r
    }

    fn comprehension(
        &mut self,
        kind: Comprehension,
        range: &Ast,
        var: &str,
        var2: Option<&str>,
        pred: &Ast,
        transform: Option<&Ast>,
    ) -> EvalResult {
        let range = self.eval(range)?;
        let items: Vec<Vec<(String, Val)>> = match &range {
            Val::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match var2 {
                    Some(v2) => vec![(var.to_string(), Val::Int(i as i64)), (v2.to_string(), v.clone())],
                    None => vec![(var.to_string(), v.clone())],
                })
                .collect(),
            Val::Map(m) => m
                .iter()
                .map(|(k, v)| match var2 {
                    Some(v2) => vec![(var.to_string(), key_val(k)), (v2.to_string(), v.clone())],
                    None => vec![(var.to_string(), key_val(k))],
                })
                .collect(),
            other => {
                return Err(format!("expression of type '{}' cannot be range of a comprehension", other.type_name()));
            }
        };
        let element = |b: &[(String, Val)]| b.last().map(|(_, v)| v.clone()).unwrap_or(Val::Null);
        match kind {
            Comprehension::All | Comprehension::Exists => {
                let decisive = kind == Comprehension::Exists;
                let mut error = None;
                for b in items {
                    match self.with_locals(b, pred) {
                        Ok(Val::Bool(v)) if v == decisive => return Ok(Val::Bool(decisive)),
                        Ok(Val::Bool(_)) => {}
                        Ok(other) => {
                            error = error.or(Some(no_overload(if decisive { "exists" } else { "all" }, &[&other])))
                        }
                        Err(e) => error = error.or(Some(e)),
                    }
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(Val::Bool(!decisive)),
                }
            }
            Comprehension::ExistsOne => {
                let mut count = 0;
                for b in items {
                    match self.with_locals(b, pred)? {
                        Val::Bool(true) => count += 1,
                        Val::Bool(false) => {}
                        other => return Err(no_overload("exists_one", &[&other])),
                    }
                }
                Ok(Val::Bool(count == 1))
            }
            Comprehension::Filter => {
                let mut out = Vec::new();
                for b in items {
                    let e = if var2.is_some() {
                        b.first().map(|(_, v)| v.clone()).unwrap_or(Val::Null)
                    } else {
                        element(&b)
                    };
                    match self.with_locals(b, pred)? {
                        Val::Bool(true) => out.push(e),
                        Val::Bool(false) => {}
                        other => return Err(no_overload("filter", &[&other])),
                    }
                }
                Ok(Val::List(Arc::new(out)))
            }
            Comprehension::Map => {
                let mut out = Vec::new();
                for b in items {
                    match transform {
                        Some(t) => match self.with_locals(b.clone(), pred)? {
                            Val::Bool(true) => out.push(self.with_locals(b, t)?),
                            Val::Bool(false) => {}
                            other => return Err(no_overload("map", &[&other])),
                        },
                        None => out.push(self.with_locals(b, pred)?),
                    }
                }
                Ok(Val::List(Arc::new(out)))
            }
        }
    }
}
