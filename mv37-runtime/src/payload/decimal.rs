//! A fast path for the `f64`s that payloads are full of (`0.75`, `0.7`, `1.5`, `42.0`):
//! values with at most [`MAX_DECIMALS`] decimals, written without the general
//! shortest-representation algorithm, exactly as that algorithm (`zmij`, which
//! `serde_json` uses) writes them.
//!
//! Why it is exact: for an integer `m < 2^53` and `k ≤ 22`, `m / 10^k` in `f64` is the
//! double nearest to the rational `m/10^k`, which is what parsing `"m·10^-k"` gives; so
//! when it equals the value, those digits round-trip. The candidate is `round(value·10^6)`
//! with its trailing zeros dropped: a short form `m·10^-k` (`k ≤ 6`) scales to
//! `m·10^(6-k)` within the product's rounding error (half an ulp of a number under
//! [`MAX_SCALED`], far below the 0.5 that would change the rounded integer), and the
//! zeros come off down to `k`, the fewest decimals, hence the shortest digits. In this
//! range both writers use plain decimal notation. The tests compare the two over
//! millions of values.

/// The most decimals tried.
const MAX_DECIMALS: usize = 6;
/// The scaled value stays below this, so that it and its rounding are exact integers.
const MAX_SCALED: f64 = 1e15;
/// The smallest magnitude taken (below it `zmij` may switch to exponent notation).
const MIN_MAGNITUDE: f64 = 1e-3;
/// How far (relative) the product may be from its digits and still pass: 2^-52 with room.
const NEAR: f64 = 1e-15;
const SCALES: [f64; MAX_DECIMALS + 1] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];

/// Room for a sign, 16 digits, a point and a leading zero.
pub(super) const BUFFER_LEN: usize = 24;

/// `value` written into the end of `buffer` if it has a short decimal form; the text
/// starts at the returned index. `None` for anything else (use the general algorithm).
#[inline]
pub(super) fn short_decimal(value: f64, buffer: &mut [u8; BUFFER_LEN]) -> Option<usize> {
    let magnitude = value.abs();
    if !(MIN_MAGNITUDE..MAX_SCALED).contains(&magnitude) {
        return None;
    }
    let (digits, decimals) = candidate(magnitude)?;
    // The check that makes the digits exact (see the module doc); the only division.
    if digits as f64 / SCALES.get(decimals).copied().unwrap_or(f64::NAN) != magnitude {
        return None;
    }
    let mut digits = digits.unsigned_abs();
    let mut at = BUFFER_LEN;
    // At most 19 bytes are written (15 digits, a point, a zero, a sign), so `at` never
    // reaches the start; saturating all the same, as no input may panic here.
    let mut put = |byte: u8| {
        at = at.saturating_sub(1);
        if let Some(slot) = buffer.get_mut(at) {
            *slot = byte;
        }
    };
    if decimals == 0 {
        put(b'0');
        put(b'.');
    }
    for written in 1.. {
        put(b'0' + (digits % 10) as u8);
        digits /= 10;
        if written == decimals {
            put(b'.');
        }
        if digits == 0 && written > decimals {
            break;
        }
    }
    if value < 0.0 {
        put(b'-');
    }
    Some(at)
}

/// The digits and decimals `magnitude` would be written with if it has a short form:
/// `round(magnitude·10^6)` with its trailing zeros dropped (a short form `m·10^-k`, if
/// there is one, scales to `m·10^(6-k)` within a fifth, so the rounding finds it and
/// the zeros come off down to `k`). Past 1e9 six decimals do not fit under
/// [`MAX_SCALED`]: only integers are taken there.
#[inline(always)]
fn candidate(magnitude: f64) -> Option<(i64, usize)> {
    let product = magnitude * SCALES[MAX_DECIMALS];
    if product >= MAX_SCALED {
        // Below 1e15: the truncation is exact.
        let digits = magnitude as i64;
        return (digits as f64 == magnitude).then_some((digits, 0));
    }
    // Rounded by adding a half and truncating (`f64::round` is a libm call here), through
    // `i64`, whose conversions are one instruction each on x86-64 (`u64`'s are several
    // without AVX-512).
    let mut digits = (product + 0.5) as i64;
    // Digits that pass lie within 2^-52 of the product (relative): anything farther has
    // no short form, and is rejected before the division.
    if (product - digits as f64).abs() > product * NEAR {
        return None;
    }
    let mut decimals = MAX_DECIMALS;
    while decimals > 0 && digits % 10 == 0 {
        digits /= 10;
        decimals -= 1;
    }
    Some((digits, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(value: f64) -> Option<String> {
        let mut buffer = [0; BUFFER_LEN];
        let at = short_decimal(value, &mut buffer)?;
        Some(String::from_utf8(buffer[at..].to_vec()).expect("ASCII"))
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
