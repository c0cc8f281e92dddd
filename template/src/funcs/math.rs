//! `add`, `subtract`, `multiply`, `divide`, `modulo`, `minimum`, `maximum`: `(b, a)` computes
//! `a op b` (agent.md §4.5, quirk Q-T13). Ints, uints and floats mix as upstream's reflection does,
//! and results are `int64`, `uint64` or `float64` as there;
//! a Number or string is an error (`add: unknown type for "42" (json.Number)`).

use super::args;
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "add" => add,
        "subtract" => subtract,
        "multiply" => multiply,
        "divide" => divide,
        "modulo" => modulo,
        "minimum" => minimum,
        "maximum" => maximum,
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug)]
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    fn value(self) -> Value {
        match self {
            Num::I(i) => Value::Int64(i),
            Num::U(u) => Value::Uint(u),
            Num::F(f) => Value::Float(f),
        }
    }
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::U(u) => u as f64,
            Num::F(f) => f,
        }
    }
    fn i(self) -> i64 {
        match self {
            Num::I(i) => i,
            Num::U(u) => u as i64,
            Num::F(f) => f as i64,
        }
    }
}

fn num(name: &str, v: &Value) -> Result<Num, String> {
    if let Some(u) = v.go_int() {
        return num(name, &u);
    }
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(Num::I(*i)),
        Value::Uint(u) => Ok(Num::U(*u)),
        Value::Float(f) => Ok(Num::F(*f)),
        other => Err(unknown(name, other)),
    }
}

fn unknown(name: &str, v: &Value) -> String {
    format!(
        "{name}: unknown type for {} ({})",
        args::go_q(v),
        v.type_name()
    )
}

/// The two operands, `a` (the last argument) checked first, as upstream does.
fn operands(name: &str, x: &[Value]) -> Result<(Num, Num), String> {
    args::arity(name, x, 2)?;
    let a = num(name, &x[1])?;
    let b = num(name, &x[0])?;
    Ok((a, b))
}

const DIV_ZERO: &str = "runtime error: integer divide by zero";

/// `a op b` with Go's result kinds: int op int/uint ⇒ int, uint op uint ⇒ uint, any float ⇒ float.
fn arith(
    a: Num,
    b: Num,
    i: fn(i64, i64) -> Option<i64>,
    u: fn(u64, u64) -> Option<u64>,
    f: fn(f64, f64) -> f64,
) -> Result<Value, String> {
    let r = match (a, b) {
        (Num::F(_), _) | (_, Num::F(_)) => Num::F(f(a.f(), b.f())),
        (Num::U(x), Num::U(y)) => Num::U(u(x, y).ok_or(DIV_ZERO)?),
        _ => Num::I(i(a.i(), b.i()).ok_or(DIV_ZERO)?),
    };
    Ok(r.value())
}

fn add(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("add", x)?;
    arith(
        a,
        b,
        |p, q| Some(p.wrapping_add(q)),
        |p, q| Some(p.wrapping_add(q)),
        |p, q| p + q,
    )
}

fn subtract(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("subtract", x)?;
    arith(
        a,
        b,
        |p, q| Some(p.wrapping_sub(q)),
        |p, q| Some(p.wrapping_sub(q)),
        |p, q| p - q,
    )
}

fn multiply(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("multiply", x)?;
    arith(
        a,
        b,
        |p, q| Some(p.wrapping_mul(q)),
        |p, q| Some(p.wrapping_mul(q)),
        |p, q| p * q,
    )
}

fn divide(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("divide", x)?;
    arith(
        a,
        b,
        |p, q| (q != 0).then(|| p.wrapping_div(q)),
        |p, q| (q != 0).then(|| p / q),
        |p, q| p / q,
    )
}

fn modulo(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    args::arity("modulo", x, 2)?;
    let a = num("modulo", &x[1])?;
    if matches!(a, Num::F(_)) {
        return Err(unknown("modulo", &x[1]));
    }
    let b = num("modulo", &x[0])?;
    if matches!(b, Num::F(_)) {
        return Err(unknown("modulo", &x[0]));
    }
    arith(
        a,
        b,
        |p, q| (q != 0).then(|| p.wrapping_rem(q)),
        |p, q| (q != 0).then(|| p % q),
        |p, _| p,
    )
}

/// Whether `a < b` across kinds, converting as upstream does (to int64 unless a float is involved).
fn less(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::F(_), _) | (_, Num::F(_)) => a.f() < b.f(),
        (Num::U(x), Num::U(y)) => x < y,
        _ => a.i() < b.i(),
    }
}

fn minimum(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("minimum", x)?;
    Ok(if less(a, b) { a } else { b }.value())
}

fn maximum(_: &mut CallEnv<'_>, x: &[Value]) -> Result<Value, String> {
    let (a, b) = operands("maximum", x)?;
    Ok(if less(b, a) { a } else { b }.value())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn f(x: f64) -> Value {
        Value::Float(x)
    }

    #[test]
    fn operands_are_reversed() {
        assert_eq!(show("add", &[i(1), i(2)]), "3");
        assert_eq!(show("subtract", &[i(1), i(10)]), "9");
        assert_eq!(show("multiply", &[i(3), i(4)]), "12");
        assert_eq!(show("divide", &[i(4), i(10)]), "2");
        assert_eq!(show("divide", &[i(7), i(2)]), "0");
        assert_eq!(show("divide", &[f(4.0), i(10)]), "2.5");
        assert_eq!(show("modulo", &[i(3), i(10)]), "1");
        assert_eq!(show("minimum", &[i(3), i(1)]), "1");
        assert_eq!(show("maximum", &[i(3), i(1)]), "3");
        assert_eq!(show("multiply", &[i(2), f(1.25)]), "2.5");
    }

    #[test]
    fn result_kinds_follow_the_operands() {
        assert!(matches!(
            call("add", &[Value::Uint(1), Value::Uint(2)]).unwrap(),
            Value::Uint(3)
        ));
        assert!(matches!(
            call("add", &[Value::Uint(1), i(2)]).unwrap(),
            Value::Int64(3)
        ));
        assert!(matches!(
            call("add", &[i(1), f(2.0)]).unwrap(),
            Value::Float(_)
        ));
        assert!(matches!(
            call("minimum", &[f(1.5), i(2)]).unwrap(),
            Value::Float(_)
        ));
        assert!(matches!(
            call("maximum", &[f(1.5), i(2)]).unwrap(),
            Value::Int64(2)
        ));
        assert_eq!(show("add", &[i(1), i(i64::MAX)]), i64::MIN.to_string());
        // Go's reflection gives int64 for any signed operands, uint64 for two unsigned ones.
        assert_eq!(call("add", &[i(1), i(2)]).unwrap().type_name(), "int64");
        assert_eq!(
            call("add", &[Value::Uint(1), Value::Uint(2)])
                .unwrap()
                .type_name(),
            "uint64"
        );
    }

    #[test]
    fn non_numbers_and_zero_divisors_fail() {
        assert_eq!(
            show("add", &[i(1), Value::Number("42".into())]),
            "ERR add: unknown type for \"42\" (json.Number)"
        );
        assert_eq!(
            show("add", &[s("x"), i(1)]),
            "ERR add: unknown type for \"x\" (string)"
        );
        assert_eq!(
            show("subtract", &[Value::Nil, i(1)]),
            "ERR subtract: unknown type for <invalid reflect.Value> (<nil>)"
        );
        assert_eq!(
            show("divide", &[i(0), i(1)]),
            "ERR runtime error: integer divide by zero"
        );
        assert_eq!(
            show("modulo", &[i(0), i(1)]),
            "ERR runtime error: integer divide by zero"
        );
        assert_eq!(
            show("modulo", &[f(2.0), i(5)]),
            "ERR modulo: unknown type for %!q(float64=2) (float64)"
        );
        assert_eq!(show("divide", &[f(0.0), i(1)]), "+Inf");
        assert_eq!(
            show("add", &[i(1)]),
            "ERR wrong number of args for add: want 2 got 1"
        );
    }
}
