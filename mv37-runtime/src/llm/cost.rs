//! Cost of a model call: a price table the user supplies, applied to [`Usage`].

use crate::record::Usage;

/// Prices of one model, in US dollars per million tokens.
///
/// `cached_input` is the price of a prompt token served from the provider's cache; for
/// a provider without one, set it to `input`. `cache_write_input` is the price of a
/// prompt token written to the cache (Anthropic's cache writes); `None` prices those at
/// `input`. mv37 does not guess a multiplier: Anthropic's depends on the cache's
/// lifetime, which the usage does not say, so give the rate your calls pay.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// USD per million uncached prompt tokens.
    pub input: f64,
    /// USD per million prompt tokens read from cache.
    pub cached_input: f64,
    /// USD per million prompt tokens written to cache; `None` means `input`.
    pub cache_write_input: Option<f64>,
    /// USD per million completion tokens (reasoning tokens included).
    pub output: f64,
}

/// Prices per model, to fill [`Usage::cost_usd`]. mv37 ships no prices: they change,
/// and the table is yours.
///
/// A model name is looked up exactly first; a dated or aliased name
/// (`gpt-4.1-mini-2025-04-14`, `claude-sonnet-4-5-20250929`, `…-latest`) then falls back
/// to the entry its version suffix extends, so `gpt-4.1-mini-2025-04-14` costs what
/// `gpt-4.1-mini` costs, while `gpt-4.1-mini` never takes the price of `gpt-4.1`.
///
/// Cost = (input − cached − written) × `input` + cached × `cached_input` + written ×
/// `cache_write_input` (else `input`) + output × `output`, per million. Cached and
/// written tokens are counted **inside** `input_tokens` (see [`Usage::input_tokens`]):
/// that is how OpenAI reports cache reads, and how
/// [`usage_from_anthropic`](crate::usage_from_anthropic) adds up Anthropic's uncached
/// tokens, cache reads and cache writes.
///
/// ```
/// use mv37_runtime::{usage_from_openai, Price, PriceTable};
///
/// let price = Price { input: 0.40, cached_input: 0.10, output: 1.60, ..Price::default() };
/// let prices = PriceTable::new().model("gpt-4.1-mini", price);
/// let response = serde_json::json!({
///     "model": "gpt-4.1-mini-2025-04-14",
///     "usage": { "input_tokens": 1_000_000, "output_tokens": 500_000,
///                "input_tokens_details": { "cached_tokens": 250_000 } }
/// });
/// let usage = prices.apply("gpt-4.1-mini-2025-04-14", usage_from_openai(&response));
/// // 750k × 0.40 + 250k × 0.10 + 500k × 1.60, per million
/// assert!((usage.cost_usd.unwrap() - 1.125).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    models: Vec<(String, Price)>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// This table with `model` priced at `price` (replacing an earlier entry).
    pub fn model(mut self, model: impl Into<String>, price: Price) -> Self {
        self.insert(model, price);
        self
    }

    /// Prices `model` at `price`, replacing an earlier entry.
    pub fn insert(&mut self, model: impl Into<String>, price: Price) {
        let model = model.into();
        match self.models.iter_mut().find(|(name, _)| *name == model) {
            Some(entry) => entry.1 = price,
            None => self.models.push((model, price)),
        }
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The price of `model`: its own entry, else the entry its version suffix extends
    /// (see the type's docs).
    pub fn price(&self, model: &str) -> Option<Price> {
        let exact = |name: &str| self.models.iter().find(|(m, _)| m == name).map(|(_, price)| *price);
        exact(model).or_else(|| exact(strip_version_suffix(model)?))
    }

    /// The cost of `usage` on `model` in US dollars; `None` when the model has no price
    /// or the usage counts no tokens.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.price(model)?;
        if usage.input_tokens.is_none() && usage.output_tokens.is_none() {
            return None;
        }
        let input = usage.input_tokens.unwrap_or(0);
        let cached = usage.cached_tokens.unwrap_or(0).min(input);
        let written = usage.cache_write_tokens.unwrap_or(0).min(input - cached);
        let output = usage.output_tokens.unwrap_or(0);
        let dollars = (input - cached - written) as f64 * price.input
            + cached as f64 * price.cached_input
            + written as f64 * price.cache_write_input.unwrap_or(price.input)
            + output as f64 * price.output;
        Some(dollars / 1_000_000.0)
    }

    /// `usage` with `cost_usd` filled in, when it is absent and the model has a price.
    pub fn apply(&self, model: &str, mut usage: Usage) -> Usage {
        if usage.cost_usd.is_none() {
            usage.cost_usd = self.cost(model, &usage);
        }
        usage
    }
}

/// `name` without a trailing version: `-YYYY-MM-DD`, `-YYYYMMDD` or `-latest`.
fn strip_version_suffix(name: &str) -> Option<&str> {
    if let Some(base) = name.strip_suffix("-latest") {
        return Some(base);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, last) = name.rsplit_once('-')?;
    if last.len() == 8 && digits(last) {
        return Some(rest);
    }
    let (rest, month) = rest.rsplit_once('-')?;
    let (base, year) = rest.rsplit_once('-')?;
    let dated = year.len() == 4 && month.len() == 2 && last.len() == 2;
    (dated && digits(year) && digits(month) && digits(last)).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes_are_recognised() {
        assert_eq!(strip_version_suffix("gpt-4.1-mini-2025-04-14"), Some("gpt-4.1-mini"));
        assert_eq!(
            strip_version_suffix("claude-sonnet-4-5-20250929"),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            strip_version_suffix("claude-3-7-sonnet-latest"),
            Some("claude-3-7-sonnet")
        );
        assert_eq!(strip_version_suffix("gpt-4.1-mini"), None);
        assert_eq!(strip_version_suffix("gpt-4o"), None);
        assert_eq!(strip_version_suffix("o3"), None);
    }

    #[test]
    fn a_longer_name_does_not_take_a_shorter_models_price() {
        let prices = PriceTable::new().model(
            "gpt-4.1",
            Price {
                input: 2.0,
                cached_input: 0.5,
                output: 8.0,
                cache_write_input: None,
            },
        );
        assert_eq!(prices.price("gpt-4.1-mini"), None);
        assert!(prices.price("gpt-4.1-2025-04-14").is_some());
    }
}
