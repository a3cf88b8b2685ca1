//! The argument grammar of the attribute macros, and the set-once option slots.
//!
//! Parsing is two steps: the tokens become a list of [`RawArg`]s (`key`, `key = expr`,
//! `key(...)`, or a leading string literal), then [`Options::from_raw`] checks each one
//! against what the macro kind accepts and fills the slots, collecting every error.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Path, Token};

use crate::errors::Errors;

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Trace,
    Task,
    Llm,
    Tool,
    Agent,
    Span,
}

impl Kind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Trace => "#[trace]",
            Kind::Task => "#[task]",
            Kind::Llm => "#[llm]",
            Kind::Tool => "#[tool]",
            Kind::Agent => "#[agent]",
            Kind::Span => "#[span]",
        }
    }

    /// The options this kind accepts, in the order the docs list them.
    fn options(self) -> &'static [&'static str] {
        const COMMON: [&str; 8] = [
            "name",
            "skip",
            "skip_all",
            "input",
            "output",
            "skip_output",
            "fields",
            "crate",
        ];
        match self {
            Kind::Trace => &[
                "name",
                "skip",
                "skip_all",
                "input",
                "output",
                "skip_output",
                "fields",
                "crate",
                "user_id",
                "session_id",
                "conversation_id",
                "external_trace_id",
            ],
            Kind::Llm => &[
                "name",
                "skip",
                "skip_all",
                "input",
                "output",
                "skip_output",
                "fields",
                "crate",
                "model",
                "provider",
                "usage",
            ],
            Kind::Agent => &[
                "name",
                "skip",
                "skip_all",
                "input",
                "output",
                "skip_output",
                "fields",
                "crate",
                "model",
                "provider",
            ],
            Kind::Task | Kind::Tool | Kind::Span => &COMMON,
        }
    }
}

/// One argument as written: `key`, `key = value` or `key(tokens)`.
pub(crate) struct RawArg {
    pub(crate) key: Ident,
    pub(crate) value: RawValue,
}

pub(crate) enum RawValue {
    Flag,
    Assign(Expr),
    List(TokenStream),
}

/// The attribute's arguments as written.
pub(crate) struct RawArgs {
    /// A leading string literal: the type of `#[span("retrieval")]`.
    pub(crate) positional: Option<LitStr>,
    pub(crate) args: Vec<RawArg>,
}

impl Parse for RawArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut positional = None;
        let mut args = Vec::new();
        if input.peek(LitStr) {
            positional = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            if input.peek(LitStr) {
                let literal: LitStr = input.parse()?;
                return Err(syn::Error::new_spanned(
                    literal,
                    "a string literal is only allowed first, as the type of `#[span(\"…\")]`",
                ));
            }
            let key = Ident::parse_any(input)?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                RawValue::Assign(input.parse()?)
            } else if input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                RawValue::List(content.parse()?)
            } else {
                RawValue::Flag
            };
            args.push(RawArg { key, value });
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Self { positional, args })
    }
}

/// A set-once option: its value and the key that set it.
pub(crate) type Slot<T> = Option<(T, Ident)>;

/// The options of one attribute, each set at most once.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) span_type: Option<LitStr>,
    pub(crate) name: Slot<LitStr>,
    pub(crate) skip: Slot<Vec<Ident>>,
    pub(crate) skip_all: Slot<()>,
    pub(crate) input: Slot<Expr>,
    pub(crate) output: Slot<bool>,
    pub(crate) fields: Slot<Vec<(LitStr, Expr)>>,
    pub(crate) krate: Slot<Path>,
    pub(crate) user_id: Slot<Expr>,
    pub(crate) session_id: Slot<Expr>,
    pub(crate) conversation_id: Slot<Expr>,
    pub(crate) external_trace_id: Slot<Expr>,
    pub(crate) model: Slot<Expr>,
    pub(crate) provider: Slot<Expr>,
    pub(crate) usage: Slot<Path>,
}

impl Options {
    /// Checks every argument against `kind` and fills the slots; every mistake is
    /// added to `errors`.
    pub(crate) fn from_raw(kind: Kind, raw: RawArgs, errors: &mut Errors) -> Self {
        let mut options = Options::default();
        match (kind, raw.positional) {
            (Kind::Span, Some(span_type)) => {
                if span_type.value().trim().is_empty() {
                    errors.push(syn::Error::new_spanned(&span_type, "the span type cannot be empty"));
                }
                options.span_type = Some(span_type);
            }
            (Kind::Span, None) => errors.push(syn::Error::new(
                Span::call_site(),
                "missing span type: write it first, as in `#[span(\"retrieval\")]`",
            )),
            (_, Some(literal)) => errors.push(syn::Error::new_spanned(
                literal,
                format!(
                    "`{}` takes no positional argument; name the span with `name = \"…\"`",
                    kind.attribute()
                ),
            )),
            (_, None) => {}
        }
        for arg in raw.args {
            options.apply(kind, arg, errors);
        }
        options
    }

    fn apply(&mut self, kind: Kind, arg: RawArg, errors: &mut Errors) {
        let key_text = arg.key.unraw().to_string();
        let key = arg.key;
        if !kind.options().contains(&key_text.as_str()) {
            errors.push(unknown_option(kind, &key, &key_text));
            return;
        }
        let value = arg.value;
        match key_text.as_str() {
            "name" => {
                if let Some(name) = expect_str(&key, value, errors) {
                    set(&mut self.name, key, name, errors);
                }
            }
            "skip" => {
                if let Some(tokens) = expect_list(&key, value, "skip(a, b)", errors) {
                    if let Some(names) = parse_skip(tokens, errors) {
                        set(&mut self.skip, key, names, errors);
                    }
                }
            }
            "skip_all" => {
                if expect_flag(&key, value, errors) {
                    set(&mut self.skip_all, key, (), errors);
                }
            }
            "skip_output" => {
                if expect_flag(&key, value, errors) {
                    set(&mut self.output, key, false, errors);
                }
            }
            "output" => {
                if let Some(output) = expect_bool(&key, value, errors) {
                    set(&mut self.output, key, output, errors);
                }
            }
            "input" => {
                if let Some(expr) = expect_expr(&key, value, errors) {
                    set(&mut self.input, key, expr, errors);
                }
            }
            "fields" => {
                if let Some(tokens) = expect_list(&key, value, "fields(key = value, …)", errors) {
                    match parse_fields(tokens) {
                        Ok(fields) => set(&mut self.fields, key, fields, errors),
                        Err(error) => errors.push(error),
                    }
                }
            }
            "crate" => {
                if let Some(path) = expect_path(&key, value, "crate = path::to::mv37", errors) {
                    set(&mut self.krate, key, path, errors);
                }
            }
            "usage" => {
                if let Some(path) = expect_path(&key, value, "usage = path::to::fn", errors) {
                    set(&mut self.usage, key, path, errors);
                }
            }
            "user_id" | "session_id" | "conversation_id" | "external_trace_id" | "model" | "provider" => {
                if let Some(expr) = expect_expr(&key, value, errors) {
                    let slot = match key_text.as_str() {
                        "user_id" => &mut self.user_id,
                        "session_id" => &mut self.session_id,
                        "conversation_id" => &mut self.conversation_id,
                        "external_trace_id" => &mut self.external_trace_id,
                        "model" => &mut self.model,
                        _ => &mut self.provider,
                    };
                    set(slot, key, expr, errors);
                }
            }
            _ => errors.push(unknown_option(kind, &key, &key_text)),
        }
    }
}

fn unknown_option(kind: Kind, key: &Ident, key_text: &str) -> syn::Error {
    let elsewhere = match key_text {
        "user_id" | "session_id" | "conversation_id" | "external_trace_id" => Some("`#[trace]`"),
        "model" | "provider" => Some("`#[llm]` and `#[agent]`"),
        "usage" => Some("`#[llm]`"),
        _ => None,
    };
    let message = match elsewhere {
        Some(attributes) => format!("the `{key_text}` option is only available on {attributes}"),
        None => {
            let valid = kind
                .options()
                .iter()
                .map(|option| format!("`{option}`"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "unknown option `{key_text}` for `{}`; expected one of {valid}",
                kind.attribute()
            )
        }
    };
    syn::Error::new_spanned(key, message)
}

fn set<T>(slot: &mut Slot<T>, key: Ident, value: T, errors: &mut Errors) {
    match slot {
        Some((_, first)) => {
            let message = if first == &key {
                format!("duplicate `{key}` option")
            } else {
                format!("`{key}` repeats `{first}`: the output is set once")
            };
            errors.push(syn::Error::new_spanned(key, message));
        }
        None => *slot = Some((value, key)),
    }
}

fn expect_flag(key: &Ident, value: RawValue, errors: &mut Errors) -> bool {
    match value {
        RawValue::Flag => true,
        RawValue::Assign(expr) => {
            errors.push(syn::Error::new_spanned(expr, format!("`{key}` takes no value")));
            false
        }
        RawValue::List(tokens) => {
            let error = match tokens.clone().into_iter().next() {
                Some(first) => syn::Error::new_spanned(first, format!("`{key}` takes no arguments")),
                None => syn::Error::new_spanned(key, format!("`{key}` takes no arguments")),
            };
            errors.push(error);
            false
        }
    }
}

fn expect_expr(key: &Ident, value: RawValue, errors: &mut Errors) -> Option<Expr> {
    match value {
        RawValue::Assign(expr) => Some(expr),
        RawValue::Flag | RawValue::List(_) => {
            errors.push(syn::Error::new_spanned(key, format!("expected a value: `{key} = …`")));
            None
        }
    }
}

fn expect_str(key: &Ident, value: RawValue, errors: &mut Errors) -> Option<LitStr> {
    let expr = expect_expr(key, value, errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(literal), ..
        }) => Some(literal),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("expected a string literal, as in `{key} = \"search_docs\"`"),
            ));
            None
        }
    }
}

fn expect_bool(key: &Ident, value: RawValue, errors: &mut Errors) -> Option<bool> {
    let expr = expect_expr(key, value, errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, .. }),
            ..
        }) => Some(value),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("expected `true` or `false`, as in `{key} = false`"),
            ));
            None
        }
    }
}

fn expect_path(key: &Ident, value: RawValue, example: &str, errors: &mut Errors) -> Option<Path> {
    let expr = expect_expr(key, value, errors)?;
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Some(path.path),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("expected a path, as in `{example}`"),
            ));
            None
        }
    }
}

fn expect_list(key: &Ident, value: RawValue, example: &str, errors: &mut Errors) -> Option<TokenStream> {
    match value {
        RawValue::List(tokens) => Some(tokens),
        RawValue::Flag => {
            errors.push(syn::Error::new_spanned(
                key,
                format!("expected a list, as in `{example}`"),
            ));
            None
        }
        RawValue::Assign(expr) => {
            errors.push(syn::Error::new_spanned(
                expr,
                format!("expected a list, as in `{example}`"),
            ));
            None
        }
    }
}

/// `a, b, self`: argument names, `self` included (as `tracing`'s `skip(self)` is written,
/// though `self` is never captured). `&self`, `&mut self` and `mut a` are read too, to be
/// reported with the fix; the valid names are still returned so that one mistake does
/// not also report the names as unskipped.
fn parse_skip(tokens: TokenStream, errors: &mut Errors) -> Option<Vec<Ident>> {
    let parser = |input: ParseStream| {
        let mut names = Vec::new();
        while !input.is_empty() {
            let reference = input.parse::<Option<Token![&]>>()?;
            let mutability = input.parse::<Option<Token![mut]>>()?;
            if !input.peek(Ident::peek_any) {
                return Err(input.error("expected argument names, as in `skip(a, b)`"));
            }
            let name = Ident::parse_any(input)?;
            let prefix = match (&reference, &mutability) {
                (Some(_), Some(_)) => "&mut",
                (Some(_), None) => "&",
                (None, Some(_)) => "mut",
                (None, None) => "",
            };
            if prefix.is_empty() {
                names.push(name);
            } else {
                errors.push(syn::Error::new_spanned(
                    quote::quote!(#reference #mutability #name),
                    format!("`skip` takes argument names: write `{name}`, without `{prefix}`"),
                ));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(names)
    };
    match parser.parse2(tokens) {
        Ok(names) => Some(names),
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                "expected argument names, as in `skip(a, b)`",
            ));
            None
        }
    }
}

/// `key = expr, "dotted.key" = expr, …`
pub(crate) fn parse_fields(tokens: TokenStream) -> syn::Result<Vec<(LitStr, Expr)>> {
    struct Field(LitStr, Expr);
    impl Parse for Field {
        fn parse(input: ParseStream) -> syn::Result<Self> {
            let key = if input.peek(LitStr) {
                input.parse::<LitStr>()?
            } else if input.peek(Ident::peek_any) {
                let ident = Ident::parse_any(input)?;
                LitStr::new(&ident.unraw().to_string(), ident.span())
            } else {
                return Err(input.error("expected a field name, as in `fields(key = value)`"));
            };
            if !input.peek(Token![=]) {
                let message = format!("expected `=` and a value after `{}`", key.value());
                return Err(syn::Error::new(key.span(), message));
            }
            input.parse::<Token![=]>()?;
            Ok(Field(key, input.parse()?))
        }
    }
    let fields = Punctuated::<Field, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut seen: Vec<(LitStr, Expr)> = Vec::new();
    for Field(key, value) in fields {
        if seen.iter().any(|(other, _)| other.value() == key.value()) {
            return Err(syn::Error::new(
                key.span(),
                format!("duplicate field `{}`", key.value()),
            ));
        }
        seen.push((key, value));
    }
    Ok(seen)
}
