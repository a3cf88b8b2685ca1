//! Code generation: a checked [`Model`] becomes the rewritten fn, sync or async.
//!
//! Every path is absolute (`::mv37::__private::…`, or `crate = path`), generated locals
//! are `__mv37_`-prefixed with mixed-site hygiene, and the checks that can fail in the
//! user's types (argument and output `Serialize`, error `Display`) are spanned at the
//! user's tokens so the compiler points there.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Path};

use crate::args::{Kind, Options, RawArgs};
use crate::errors::Errors;
use crate::model::{Body, Model, Returns};

/// The whole attribute: parse the arguments and the item, check them, and expand. On
/// any error the original item is emitted unchanged next to the errors, so the rest of
/// the crate still type-checks and IDEs keep working.
pub(crate) fn instrument(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = match syn::parse2::<RawArgs>(args) {
        Ok(raw) => Options::from_raw(kind, raw, &mut errors),
        Err(error) => {
            errors.push(error);
            Options::default()
        }
    };
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            if let Some(error) = not_a_fn(kind, item.clone()) {
                errors.push(error);
            }
            // Otherwise the item does not parse at all: the compiler reports that
            // better than we can, from the tokens we give back unchanged.
            let errors = errors.to_compile_errors();
            return quote!(#errors #item);
        }
    };
    let model = Model::new(kind, options, &func, &mut errors);
    if !errors.is_empty() {
        let errors = errors.to_compile_errors();
        return quote!(#errors #item);
    }
    expand(&model)
}

fn not_a_fn(kind: Kind, item: TokenStream) -> Option<syn::Error> {
    let message = format!(
        "`{}` can only be used on a function or method with a body",
        kind.attribute()
    );
    if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        if let (None, Some(semi)) = (&method.default, &method.semi_token) {
            return Some(syn::Error::new_spanned(
                semi,
                format!(
                    "`{}` needs a function body: put it on the method of each impl, or give the trait method a default body",
                    kind.attribute()
                ),
            ));
        }
    }
    let item = syn::parse2::<syn::Item>(item).ok()?;
    let tokens = match &item {
        syn::Item::Struct(item) => {
            let (keyword, ident) = (&item.struct_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Enum(item) => {
            let (keyword, ident) = (&item.enum_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Union(item) => {
            let (keyword, ident) = (&item.union_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Trait(item) => {
            let (keyword, ident) = (&item.trait_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Mod(item) => {
            let (keyword, ident) = (&item.mod_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Const(item) => {
            let (keyword, ident) = (&item.const_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Static(item) => {
            let (keyword, ident) = (&item.static_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Type(item) => {
            let (keyword, ident) = (&item.type_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Impl(item) => item.impl_token.to_token_stream(),
        syn::Item::Use(item) => item.use_token.to_token_stream(),
        other => other.to_token_stream(),
    };
    Some(syn::Error::new_spanned(tokens, message))
}

fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

fn expand(model: &Model) -> TokenStream {
    let krate: Path = match &model.options.krate {
        Some((path, _)) => path.clone(),
        None => syn::parse_quote!(::mv37),
    };
    let private = quote!(#krate::__private);
    let setup = local("__mv37_setup");

    let begin = begin(model, &private);
    let output = output_recorder(model, &private);
    let pin = pin_return_type(model);
    let is_result = matches!(model.returns, Returns::Result { .. });

    let ItemFn { vis, sig, .. } = model.func;
    let outer_attrs = &model.outer_attrs;
    let inner_attrs = &model.inner_attrs;
    let (run_sync, run_async) = if is_result {
        ("run_result", "run_result_async")
    } else {
        ("run", "run_async")
    };
    // Spanned at the error type (else the return type) so that an error type without
    // `Display` is reported there.
    let return_span = match (&model.returns, &sig.output) {
        (Returns::Result { err: Some(err), .. }, _) => err.span(),
        (_, syn::ReturnType::Type(_, ty)) => ty.span(),
        (_, syn::ReturnType::Default) => sig.ident.span(),
    };
    let run_sync = Ident::new(run_sync, return_span);
    let run_async = Ident::new(run_async, return_span);

    let body = match &model.body {
        Body::Sync(block) => {
            let stmts = &block.stmts;
            quote! {
                let #setup = #begin;
                #setup.#run_sync(move || { #pin #(#stmts)* }, #output)
            }
        }
        Body::Async(block) => {
            let stmts = &block.stmts;
            quote! {
                let #setup = #begin;
                #setup.#run_async(async move { #pin #(#stmts)* }, #output).await
            }
        }
        Body::AsyncTrait { before, pin, future } => quote! {
            #(#before)*
            let #setup = #begin;
            #pin(#setup.#run_async(#future, #output))
        },
    };

    // The body's braces keep the user's spans: with generated braces the fn's span
    // counts as macro-made and `dead_code` would no longer fire on it.
    let mut block = TokenStream::new();
    model.func.block.brace_token.surround(&mut block, |tokens| {
        tokens.extend(quote!(#(#inner_attrs)* #body));
    });
    quote! {
        #(#outer_attrs)*
        #vis #sig #block
    }
}

/// `begin_span(kind, "name").input(…).attribute(…)…` or `begin_trace("name")…`.
fn begin(model: &Model, private: &TokenStream) -> TokenStream {
    let options = &model.options;
    let name = model.name();
    let mut begin = match model.kind {
        Kind::Trace => quote!(#private::begin_trace(#name)),
        kind => {
            let span_kind = match kind {
                Kind::Llm => quote!(#private::SpanKind::Llm),
                Kind::Tool => quote!(#private::SpanKind::Tool),
                Kind::Agent => quote!(#private::SpanKind::Agent),
                Kind::Span => {
                    let span_type = &options.span_type;
                    quote!(#private::custom_kind(#span_type))
                }
                _ => quote!(#private::SpanKind::Task),
            };
            // An `async fn` looks its span up when its future is made, a sync fn when
            // it runs (see `begin_span_async` and `begin_span`).
            let entry = match model.body {
                Body::Sync(_) => quote!(begin_span),
                Body::Async(_) | Body::AsyncTrait { .. } => quote!(begin_span_async),
            };
            quote!(#private::#entry(#span_kind, #name))
        }
    };
    let text_options = [
        ("user_id", &options.user_id),
        ("session_id", &options.session_id),
        ("conversation_id", &options.conversation_id),
        ("external_trace_id", &options.external_trace_id),
        ("model", &options.model),
        ("provider", &options.provider),
    ];
    for (setter, slot) in text_options {
        if let Some((expr, _)) = slot {
            let setter = Ident::new(setter, expr.span());
            begin.extend(quote_spanned!(expr.span()=> .#setter(&(#expr))));
        }
    }
    if let Some((expr, _)) = &options.input {
        begin.extend(quote_spanned!(expr.span()=> .input(&(#expr))));
    } else if !model.captures.is_empty() {
        // The whole capture is spanned at the argument, the path to `__private` too, so
        // that a type that is not `Serialize` is reported there (once: see `probe`).
        let fields = model.captures.iter().map(|capture| {
            let ident = &capture.ident;
            let span = ident.span();
            let name = syn::LitStr::new(&syn::ext::IdentExt::unraw(ident).to_string(), span);
            let private = respanned(private.clone(), span);
            let argument = if capture.is_reference {
                quote_spanned!(span=> &*#ident)
            } else {
                quote_spanned!(span=> &#ident)
            };
            quote_spanned!(span=> .field(#name, #private::probe(#argument).capture()))
        });
        begin.extend(quote!(.input(&#private::input() #(#fields)*)));
    }
    if let Some((fields, _)) = &options.fields {
        for (key, expr) in fields {
            begin.extend(quote_spanned!(expr.span()=> .attribute(#key, &(#expr))));
        }
    }
    begin
}

/// The `fn(&handle, &value)` that records the output (the `Ok` value for `Result`) and,
/// for `#[llm(usage = …)]`, the usage. The `Serialize` check and the usage call are
/// spanned at the user's tokens (the output type, the usage path), and so are the
/// closure's parameters where they are used, so that errors point there.
fn output_recorder(model: &Model, private: &TokenStream) -> TokenStream {
    let handle = Ident::new("__mv37_handle", Span::call_site());
    let value = Ident::new("__mv37_output", Span::call_site());
    let mut record = TokenStream::new();
    if model.records_output() {
        let output_type = match &model.returns {
            Returns::Value(ty) => Some(ty.span()),
            Returns::Result { ok: Some(ok), .. } => Some(ok.span()),
            Returns::Result { ok: None, .. } | Returns::Unit => None,
        };
        if let Some(span) = output_type {
            let (handle, value) = (Ident::new("__mv37_handle", span), Ident::new("__mv37_output", span));
            record.extend(quote_spanned!(span=> #private::record_output(#handle, #value);));
        }
    }
    if let Some((path, _)) = &model.options.usage {
        let value = Ident::new("__mv37_output", path.span());
        let usage = quote_spanned!(path.span()=> #path(#value));
        record.extend(quote!(#handle.set_usage(#usage);));
    }
    if record.is_empty() {
        quote!(|_, _| {})
    } else {
        quote!(|#handle, #value| { #record })
    }
}

/// Pins the type of the body to the declared return type, so that `?` and `return`
/// infer as in the original fn and type errors point at the signature.
fn pin_return_type(model: &Model) -> TokenStream {
    if matches!(model.body, Body::AsyncTrait { .. }) {
        // `#[async_trait]` pins it already.
        return TokenStream::new();
    }
    let Some(ty) = &model.pinned_type else {
        return TokenStream::new();
    };
    let fake = local("__mv37_fake_return");
    quote! {
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #fake: #ty = loop {};
            return #fake;
        }
    }
}

/// `tokens` with every span set to `span`.
fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respanned(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            }
            tree.set_span(span);
            tree
        })
        .collect()
}
