//! Kubernetes resource quantities (injector.md §4.5): parse and print in canonical form.

/// A quantity is `mantissa × 10^exp10` (after binary scaling), remembering its input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Binary,
    DecimalSi,
    DecimalExponent,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Syntax,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("quantity is too large")]
    Overflow,
}

/// Parse a quantity and return its canonical string (`1.5Gi` → `1536Mi`, `1000m` → `1`).
pub fn canonical_quantity(s: &str) -> Result<String, QuantityError> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(QuantityError::Syntax);
    }
    if !suffix
        .bytes()
        .all(|b| b"eEinumkKMGTP+-0123456789".contains(&b))
    {
        return Err(QuantityError::Syntax);
    }
    let (format, base2, exp10): (Format, u32, i32) = match suffix {
        "" => (Format::DecimalSi, 0, 0),
        "n" => (Format::DecimalSi, 0, -9),
        "u" => (Format::DecimalSi, 0, -6),
        "m" => (Format::DecimalSi, 0, -3),
        "k" => (Format::DecimalSi, 0, 3),
        "M" => (Format::DecimalSi, 0, 6),
        "G" => (Format::DecimalSi, 0, 9),
        "T" => (Format::DecimalSi, 0, 12),
        "P" => (Format::DecimalSi, 0, 15),
        "E" => (Format::DecimalSi, 0, 18),
        "Ki" => (Format::Binary, 1, 0),
        "Mi" => (Format::Binary, 2, 0),
        "Gi" => (Format::Binary, 3, 0),
        "Ti" => (Format::Binary, 4, 0),
        "Pi" => (Format::Binary, 5, 0),
        "Ei" => (Format::Binary, 6, 0),
        other => {
            let e = other
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Suffix)?;
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            let n: i32 = e.parse().map_err(|_| QuantityError::Suffix)?;
            (Format::DecimalExponent, 0, n)
        }
    };
    // Decimal mantissa and scale from the number part.
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let mut mantissa: i128 = if digits.is_empty() {
        0
    } else {
        if digits.len() > 30 {
            return Err(QuantityError::Overflow);
        }
        digits.parse().map_err(|_| QuantityError::Overflow)?
    };
    let mut exp: i32 = exp10
        .checked_sub(i32::try_from(frac_part.len()).map_err(|_| QuantityError::Overflow)?)
        .ok_or(QuantityError::Overflow)?;
    for _ in 0..base2 {
        mantissa = mantissa.checked_mul(1024).ok_or(QuantityError::Overflow)?;
    }
    if mantissa == 0 {
        return Ok("0".to_owned());
    }
    // Round up to nano units.
    while exp < -9 {
        let rem = mantissa % 10;
        mantissa /= 10;
        if rem != 0 {
            mantissa += 1;
        }
        exp += 1;
    }
    if !(-30..=60).contains(&exp) {
        return Err(QuantityError::Overflow);
    }
    let sign = if negative { "-" } else { "" };
    if format == Format::Binary {
        // Integer value ≥ 1024 ⇒ binary suffix; otherwise fall through to decimal SI.
        let mut v = Some(mantissa);
        if exp >= 0 {
            for _ in 0..exp {
                v = v.and_then(|x| x.checked_mul(10));
            }
        } else {
            let div = 10i128
                .checked_pow(exp.unsigned_abs())
                .ok_or(QuantityError::Overflow)?;
            v = (mantissa % div == 0).then_some(mantissa / div);
        }
        if let Some(mut v) = v
            && v >= 1024
        {
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            let mut k = 0;
            while k < 6 && v % 1024 == 0 {
                v /= 1024;
                k += 1;
            }
            return Ok(format!("{sign}{v}{}", suffixes[k]));
        }
    }
    // Strip trailing zeros into the exponent, then lower the exponent to a multiple of 3.
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    while exp.rem_euclid(3) != 0 {
        mantissa = mantissa.checked_mul(10).ok_or(QuantityError::Overflow)?;
        exp -= 1;
    }
    if format == Format::DecimalExponent {
        return Ok(if exp == 0 {
            format!("{sign}{mantissa}")
        } else {
            format!("{sign}{mantissa}e{exp}")
        });
    }
    while exp > 18 {
        mantissa = mantissa.checked_mul(1000).ok_or(QuantityError::Overflow)?;
        exp -= 3;
    }
    let suffix = match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    Ok(format!("{sign}{mantissa}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_of_the_spec() {
        for (input, want) in [
            ("0", "0"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("0.5Ki", "512"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("12000", "12k"),
            ("120000", "120k"),
            ("1.5G", "1500M"),
            ("500M", "500M"),
            ("1e3", "1e3"),
            ("500m", "500m"),
            ("128Mi", "128Mi"),
            ("64Mi", "64Mi"),
            ("250m", "250m"),
            ("128m", "128m"),
            ("-1", "-1"),
        ] {
            assert_eq!(canonical_quantity(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_bad_quantities() {
        for bad in [
            "500mi", "128mb", "128g", "128gi", "lots", "", ".", "1.2.3", "1e", "Mi",
        ] {
            assert!(canonical_quantity(bad).is_err(), "{bad}");
        }
    }
}
