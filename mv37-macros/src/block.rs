//! `traced!`: a trace declared as a block, with the builder's fields.
//!
//! It cannot be called `trace!`: `#[trace]` is a macro too, and attribute and
//! function-like macros share one namespace, so `mv37::trace` can only name one of them.

// Input:  traced!("support_agent", user_id = id, attributes(channel = "chat"), |trace| { … })
// Output: ::mv37::__private::new_trace("support_agent")
//             .user_id(id).attribute("channel", "chat")
//             .run(|trace| { … })
//
// Input:  traced!("support_agent", async move |trace| { … })
// Output: ::mv37::__private::new_trace("support_agent").run_async(move |trace| async move { … })

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprClosure, Ident, LitStr, Path, ReturnType, Token, Type};

use crate::args::parse_fields;
use crate::errors::Errors;

const FIELDS: &[&str] = &[
    "client",
    "user_id",
    "session_id",
    "conversation_id",
    "external_trace_id",
    "input",
    "parent",
    "attributes",
    "context",
    "crate",
];

enum FieldValue {
    Expr(Expr),
    Pairs(Vec<(LitStr, Expr)>),
}

struct Field {
    key: Ident,
    value: FieldValue,
}

struct Traced {
    name: Expr,
    fields: Vec<Field>,
    closure: ExprClosure,
}

fn is_closure_start(input: ParseStream) -> bool {
    input.peek(Token![|]) || input.peek(Token![||]) || input.peek(Token![move]) || input.peek(Token![async])
}

impl Parse for Traced {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() || is_closure_start(input) {
            return Err(input.error("expected the trace's name first, as in `traced!(\"support_agent\", |trace| …)`"));
        }
        let name: Expr = input.parse()?;
        if let Expr::Assign(assign) = &name {
            return Err(syn::Error::new_spanned(
                &assign.left,
                "expected the trace's name first, as in `traced!(\"support_agent\", |trace| …)`",
            ));
        }
        let mut fields = Vec::new();
        loop {
            if input.is_empty() {
                return Err(input.error("expected a closure `|trace| { … }` as the last argument"));
            }
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                return Err(input.error("expected a closure `|trace| { … }` as the last argument"));
            }
            if is_closure_start(input) {
                let closure: ExprClosure = input.parse()?;
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                    if !input.is_empty() {
                        return Err(input.error("the closure must be the last argument"));
                    }
                }
                return Ok(Self { name, fields, closure });
            }
            if !input.peek(Ident::peek_any) {
                return Err(input.error("expected a field, as in `user_id = \"cus_123\"`, or the closure `|trace| …`"));
            }
            let key = Ident::parse_any(input)?;
            let key_text = key.unraw().to_string();
            if !FIELDS.contains(&key_text.as_str()) {
                let valid = FIELDS.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("unknown field `{key_text}` for `traced!`; expected one of {valid}"),
                ));
            }
            let value = if key_text == "attributes" || key_text == "context" {
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new_spanned(
                        &key,
                        format!("expected a list, as in `{key_text}(key = value, …)`"),
                    ));
                }
                let content;
                syn::parenthesized!(content in input);
                FieldValue::Pairs(parse_fields(content.parse()?)?)
            } else {
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new_spanned(
                        &key,
                        format!("expected a value: `{key_text} = …`"),
                    ));
                }
                input.parse::<Token![=]>()?;
                FieldValue::Expr(input.parse()?)
            };
            if fields.iter().any(|field: &Field| field.key == key) {
                return Err(syn::Error::new_spanned(&key, format!("duplicate field `{key_text}`")));
            }
            fields.push(Field { key, value });
        }
    }
}

pub(crate) fn traced(input: TokenStream) -> TokenStream {
    let traced = match syn::parse2::<Traced>(input) {
        Ok(traced) => traced,
        Err(error) => {
            // `compile_error!` in expression position types as anything: no cascade.
            let error = error.to_compile_error();
            return quote!({ #error });
        }
    };
    let mut errors = Errors::default();
    let expanded = expand(&traced, &mut errors);
    if errors.is_empty() {
        expanded
    } else {
        let errors = errors.to_compile_errors();
        quote!({ #errors })
    }
}

fn expand(traced: &Traced, errors: &mut Errors) -> TokenStream {
    let mut krate: Path = syn::parse_quote!(::mv37);
    for field in &traced.fields {
        if let (true, FieldValue::Expr(Expr::Path(path))) = (field.key == "crate", &field.value) {
            krate = path.path.clone();
        } else if field.key == "crate" {
            errors.push(syn::Error::new_spanned(
                &field.key,
                "expected a path, as in `crate = my::mv37`",
            ));
        }
    }
    let private = quote!(#krate::__private);
    let name = &traced.name;
    let mut builder = quote!(#private::new_trace(#name));
    for field in &traced.fields {
        if field.key == "client" {
            if let FieldValue::Expr(client) = &field.value {
                builder = quote_spanned!(client.span()=> #private::trace_on(&#client, #name));
            }
        }
    }
    for field in &traced.fields {
        let key = &field.key;
        match &field.value {
            FieldValue::Expr(_) if key == "client" || key == "crate" => {}
            FieldValue::Expr(expr) if key == "input" => builder.extend(quote!(.input(&(#expr)))),
            FieldValue::Expr(expr) => builder.extend(quote!(.#key(#expr))),
            FieldValue::Pairs(pairs) => {
                let setter = if key == "attributes" {
                    quote!(attribute)
                } else {
                    quote!(context)
                };
                for (pair_key, value) in pairs {
                    builder.extend(quote!(.#setter(#pair_key, #value)));
                }
            }
        }
    }

    let closure = &traced.closure;
    if closure.inputs.len() != 1 {
        errors.push(syn::Error::new_spanned(
            &closure.inputs,
            "the closure takes one argument, the trace handle: `|trace| …`",
        ));
    }
    let returns_result = match &closure.output {
        ReturnType::Type(_, ty) => is_result(ty),
        ReturnType::Default => false,
    };
    if closure.asyncness.is_some() {
        let inputs = &closure.inputs;
        let body = &closure.body;
        let output = &closure.output;
        let attrs = &closure.attrs;
        let (run, body) = match output {
            ReturnType::Type(_, ty) => {
                let result = if returns_result {
                    quote!(try_run_async)
                } else {
                    quote!(run_async)
                };
                (result, quote!({ let __mv37_value: #ty = #body; __mv37_value }))
            }
            ReturnType::Default => (quote!(run_async), quote!(#body)),
        };
        quote!(#builder.#run(#(#attrs)* move |#inputs| async move #body))
    } else if returns_result {
        quote!(#builder.try_run(#closure))
    } else {
        quote!(#builder.run(#closure))
    }
}

fn is_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|last| last.ident == "Result"))
}
