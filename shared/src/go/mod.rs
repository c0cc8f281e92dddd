//! Go compatibility: the few Go standard-library primitives whose exact behaviour is part of the
//! product (values users write in configs, annotations and templates; error texts templates print;
//! JSON bytes the injector and agent exchange). Each is written once here and tested against Go's
//! documented behaviour; callers that differ on purpose wrap these in a named function saying why.
//! Pure: no I/O.

pub mod json;
pub mod strconv;
