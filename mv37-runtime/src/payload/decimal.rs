//! A fast path for the `f64`s that payloads are full of (`0.75`, `0.7`, `1.5`, `42.0`):
//! values with at most six decimals, written without the general shortest-representation
//! algorithm, exactly as that algorithm (`zmij`, which `serde_json` uses) writes them.
//!
//! Why it is exact: for an integer `m < 2^53` and `k ≤ 22`, `m / 10^k` in `f64` is the
//! double nearest to the rational `m/10^k`, which is what parsing `"m·10^-k"` gives; so
//! when it equals the value, those digits round-trip. The candidate is
//! `d = round(value·10^6)`: a short form `m·10^-k` (`k ≤ 6`) scales to `m·10^(6-k)` within
//! the product's rounding error (half an ulp of a number under [`MAX_SCALED`], far below
//! the 0.5 that would change the rounded integer). `d / 10^6` and `m / 10^k` are the same
//! rational, so one division checks the candidate whatever `k` is; the digits written are
//! `d`'s with the trailing zeros of its six decimals dropped, the fewest decimals, hence
//! the shortest digits. In this range both writers use plain decimal notation. The tests
//! compare the two over millions of values.
//!
//! The text is pushed character by character from registers (the six decimals spread one
//! per byte of a word), with no buffer to copy and no loop of divisions.

/// The scaled value stays below this, so that it and its rounding are exact integers.
const MAX_SCALED: f64 = 1e15;
/// The smallest magnitude taken (below it `zmij` may switch to exponent notation).
const MIN_MAGNITUDE: f64 = 1e-3;
/// How far (relative) the product may be from its digits and still pass: 2^-52 with room.
const NEAR: f64 = 1e-15;
/// Six decimals.
const SCALE: f64 = 1e6;
const SCALE_INT: u64 = 1_000_000;

/// The most bytes a short form takes: a sign, 15 digits, a point and six decimals.
pub(super) const MAX_LEN: usize = 23;

/// A value's short decimal form: `whole.fraction`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Short {
    negative: bool,
    whole: u64,
    /// The six decimals, one digit (0–9, not yet ASCII) per byte, the first in the
    /// lowest.
    fraction: u64,
    /// How many of the decimals are written: at least one (`42.0`).
    decimals: u32,
}

/// `value`'s short decimal form if it has one; `None` for anything else (use the general
/// algorithm).
#[inline]
pub(super) fn short_decimal(value: f64) -> Option<Short> {
    let magnitude = value.abs();
    if !(MIN_MAGNITUDE..MAX_SCALED).contains(&magnitude) {
        return None;
    }
    let product = magnitude * SCALE;
    let (whole, fraction) = if product >= MAX_SCALED {
        // Past 1e9 six decimals do not fit under `MAX_SCALED`: only integers are taken,
        // and below 1e15 the truncation is exact.
        let whole = magnitude as i64;
        if whole as f64 != magnitude {
            return None;
        }
        (whole.unsigned_abs(), 0)
    } else {
        // Rounded by adding a half and truncating (`f64::round` is a libm call here),
        // through `i64`, whose conversions are one instruction each on x86-64 (`u64`'s
        // are several without AVX-512).
        let digits = (product + 0.5) as i64;
        // Digits that pass lie within 2^-52 of the product (relative): anything farther
        // has no short form, and is rejected before the division.
        if (product - digits as f64).abs() > product * NEAR {
            return None;
        }
        // The check that makes the digits exact (see the module doc).
        if digits as f64 / SCALE != magnitude {
            return None;
        }
        let digits = digits.unsigned_abs();
        (digits / SCALE_INT, (digits % SCALE_INT) as u32)
    };
    let fraction_digits = spread(fraction);
    // The trailing zero decimals are the word's high zero bytes (six digits in eight bytes).
    let decimals = match fraction {
        0 => 1,
        _ => 6 - (fraction_digits << 16).leading_zeros() / 8,
    };
    Some(Short {
        negative: value < 0.0,
        whole,
        fraction: fraction_digits,
        decimals,
    })
}

/// The six digits of `fraction` (below 10^6), one per byte, the first in the lowest byte.
#[inline(always)]
fn spread(fraction: u32) -> u64 {
    let three = |part: u32| {
        let (hundreds, rest) = (part / 100, part % 100);
        u64::from(hundreds) | u64::from(rest / 10) << 8 | u64::from(rest % 10) << 16
    };
    three(fraction / 1000) | three(fraction % 1000) << 24
}

/// The ASCII digit in the low four bits of `value`.
#[inline(always)]
fn digit(value: u64) -> char {
    char::from(b'0' + (value as u8 & 0x0f))
}

impl Short {
    /// Appends the text to `out`.
    #[inline]
    pub(super) fn write(self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        if self.whole < 10 {
            out.push(digit(self.whole));
        } else {
            out.push_str(itoa::Buffer::new().format(self.whole));
        }
        out.push('.');
        for at in 0..self.decimals {
            out.push(digit(self.fraction >> (8 * at)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(value: f64) -> Option<String> {
        let mut text = String::new();
        short_decimal(value)?.write(&mut text);
        Some(text)
    }

    fn general(value: f64) -> String {
        zmij::Buffer::new().format_finite(value).to_owned()
    }

    /// A small deterministic generator (xorshift), so that a failure reproduces.
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn common_values_take_the_fast_path_and_match_the_general_writer() {
        for value in [
            0.75,
            0.7,
            1.5,
            42.0,
            -3.25,
            0.001,
            0.1,
            0.2,
            0.3,
            123_456.789,
            1e14,
            999_999_999.5,
            0.123_456,
            -0.5,
        ] {
            assert_eq!(fast(value).as_deref(), Some(general(value).as_str()), "{value}");
        }
    }

    #[test]
    fn values_outside_the_range_or_with_many_decimals_are_left_to_the_general_writer() {
        for value in [
            0.0,
            -0.0,
            1e-4,
            1e15,
            1e300,
            0.1 + 0.2,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            0.123_456_7,
        ] {
            assert_eq!(fast(value), None, "{value}");
        }
    }

    #[test]
    fn decimals_made_from_random_digits_match_the_general_writer() {
        let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
        let mut taken = 0;
        for _ in 0..2_000_000 {
            let draw = numbers.next();
            let digits = (draw >> 16) % 10u64.pow(1 + (draw % 15) as u32);
            let decimals = ((draw >> 8) % 8) as i32;
            let value = digits as f64 / 10f64.powi(decimals) * if draw & 1 == 0 { 1.0 } else { -1.0 };
            if let Some(text) = fast(value) {
                taken += 1;
                assert_eq!(text, general(value), "{value:e} ({digits} / 10^{decimals})");
            }
        }
        assert!(taken > 1_000_000, "the fast path took only {taken} of 2,000,000");
    }

    #[test]
    fn the_doubles_next_to_short_decimals_and_powers_of_two_are_written_as_the_general_writer_does() {
        let mut numbers = Numbers(0x5851_f42d_4c95_7f2d);
        let mut values: Vec<f64> = (-10..30).map(|power| 2f64.powi(power)).collect();
        for _ in 0..200_000 {
            let draw = numbers.next();
            let digits = (draw >> 16) % 10u64.pow(1 + (draw % 12) as u32);
            values.push(digits as f64 / 10f64.powi(((draw >> 8) % 7) as i32));
        }
        let mut taken = 0;
        for value in values {
            let mut near = value;
            for _ in 0..3 {
                near = near.next_down();
            }
            for _ in 0..7 {
                if let Some(text) = fast(near) {
                    taken += 1;
                    assert_eq!(text, general(near), "{near:e} (near {value:e})");
                }
                near = near.next_up();
            }
        }
        assert!(taken > 150_000, "the fast path took only {taken}");
    }

    #[test]
    fn arbitrary_doubles_match_the_general_writer_whenever_taken() {
        let mut numbers = Numbers(0x2545_f491_4f6c_dd1d);
        for _ in 0..2_000_000 {
            let value = f64::from_bits(numbers.next());
            if value.is_finite() {
                if let Some(text) = fast(value) {
                    assert_eq!(text, general(value), "{value:e}");
                }
            }
        }
        // Doubles spread over the range: few have a short decimal form, but those near
        // 1 with a few digits do, through the same code.
        for step in 0..200_000u32 {
            let value = 1.0 + f64::from(step) * 1e-5;
            if let Some(text) = fast(value) {
                assert_eq!(text, general(value), "{value:e}");
            }
        }
    }
}
