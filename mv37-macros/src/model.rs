//! The validated description of one instrumented fn: what it captures, what it
//! returns, and how its body runs (sync, `async`, or the shape `#[async_trait]` leaves).

use syn::ext::IdentExt;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, Expr, ExprAsync, FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType,
    Stmt, Type, TypeParamBound,
};

use crate::args::{Kind, Options};
use crate::errors::Errors;

/// What the fn returns, as far as the macro can tell from the signature.
pub(crate) enum Returns {
    /// `()` or nothing: no output is recorded.
    Unit,
    /// `Result<T, E>` (by the last path segment, so `io::Result<T>` too): `Ok` is the
    /// output, `Err` fails the span. `ok` is `None` for `Result<(), E>`.
    Result {
        ok: Option<Box<Type>>,
        err: Option<Box<Type>>,
    },
    /// Anything else.
    Value(Box<Type>),
}

/// One argument captured into the input object.
pub(crate) struct Capture {
    pub(crate) ident: Ident,
    /// Declared as `name: &T` (or `&mut T`): captured as `&*name`, so that diagnostics
    /// name `T`.
    pub(crate) is_reference: bool,
}

/// How the body runs.
pub(crate) enum Body<'a> {
    /// A sync fn: the body becomes a closure.
    Sync(&'a Block),
    /// An `async fn`: the body becomes an `async move` block.
    Async(&'a Block),
    /// What `#[async_trait]` made of an `async fn`: a sync fn whose last statement is
    /// `Box::pin(async move { … })`; the span wraps that future.
    AsyncTrait {
        before: &'a [Stmt],
        pin: &'a Expr,
        future: &'a ExprAsync,
    },
}

/// One instrumented fn, checked.
pub(crate) struct Model<'a> {
    pub(crate) kind: Kind,
    pub(crate) options: Options,
    pub(crate) func: &'a ItemFn,
    pub(crate) outer_attrs: Vec<&'a Attribute>,
    pub(crate) inner_attrs: Vec<&'a Attribute>,
    /// The bound names captured into the input object, in order.
    pub(crate) captures: Vec<Capture>,
    pub(crate) returns: Returns,
    /// The declared return type (for `#[async_trait]`, the future's `Output`), to pin
    /// the body's type to the signature; `None` when nothing is worth pinning.
    pub(crate) pinned_type: Option<Type>,
    pub(crate) body: Body<'a>,
}

impl<'a> Model<'a> {
    pub(crate) fn new(kind: Kind, options: Options, func: &'a ItemFn, errors: &mut Errors) -> Self {
        if let Some(constness) = &func.sig.constness {
            errors.push(syn::Error::new_spanned(
                constness,
                format!(
                    "`{}` cannot be used on a `const fn`: a span cannot be recorded during const evaluation",
                    kind.attribute()
                ),
            ));
        }

        if is_entry_point(func) {
            let attribute = kind.attribute();
            errors.push(syn::Error::new_spanned(
                &func.sig.ident,
                format!(
                    "`{attribute}` cannot be used on `main`: `main` starts before `mv37::init()` \
                     installs the client, so it would record nothing and every span inside \
                     would open a trace of its own\n\
                     help: call `mv37::init()` in `main` and put `{attribute}` on a fn that \
                     `main` calls: `fn main() {{ let _mv37 = mv37::init(); run() }}`"
                ),
            ));
        }

        let bound = bound_names(func);
        if let (Some(_), Some((_, skip_all))) = (&options.skip, &options.skip_all) {
            errors.push(syn::Error::new_spanned(
                skip_all,
                "`skip` and `skip_all` cannot be used together",
            ));
        }
        if let Some((_, input)) = &options.input {
            let skips = [
                &options.skip.as_ref().map(|(_, key)| key),
                &options.skip_all.as_ref().map(|(_, key)| key),
            ];
            for key in skips.into_iter().flatten() {
                errors.push(syn::Error::new_spanned(
                    key,
                    format!("`{key}` has no effect together with `{input}`, which replaces the captured arguments"),
                ));
            }
        }
        let skipped = options
            .skip
            .as_ref()
            .map(|(names, _)| names.as_slice())
            .unwrap_or_default();
        let receiver = func.sig.receiver().is_some();
        for name in skipped {
            let exists = if name == "self" {
                receiver
            } else {
                bound.iter().any(|bound| &bound.ident == name)
            };
            if !exists {
                let names = receiver
                    .then(|| "`self`".to_owned())
                    .into_iter()
                    .chain(bound.iter().map(|b| format!("`{}`", b.ident.unraw())))
                    .collect::<Vec<_>>();
                let known = if names.is_empty() {
                    "this fn has no arguments".to_owned()
                } else {
                    format!("the arguments are {}", names.join(", "))
                };
                errors.push(syn::Error::new_spanned(
                    name,
                    format!("`skip` names no argument `{}`; {known}", name.unraw()),
                ));
            }
        }
        let captures = if options.skip_all.is_some() || options.input.is_some() {
            Vec::new()
        } else {
            bound
                .into_iter()
                .filter(|capture| !skipped.contains(&capture.ident))
                .collect()
        };

        let (outer_attrs, inner_attrs) = func
            .attrs
            .iter()
            .partition(|attr| matches!(attr.style, syn::AttrStyle::Outer));

        let async_trait = async_trait_shape(func);
        let declared = match (&async_trait, &func.sig.output) {
            (Some((_, _, _, output)), _) => Some(output.clone()),
            (None, ReturnType::Type(_, ty)) => Some((**ty).clone()),
            (None, ReturnType::Default) => None,
        };
        let returns = match &declared {
            None => Returns::Unit,
            Some(Type::Tuple(tuple)) if tuple.elems.is_empty() => Returns::Unit,
            Some(ty) => match result_types(ty) {
                Some((ok, err)) => Returns::Result {
                    ok: ok
                        .filter(|ok| !matches!(ok, Type::Tuple(t) if t.elems.is_empty()))
                        .map(Box::new),
                    err: err.map(Box::new),
                },
                None => Returns::Value(Box::new(ty.clone())),
            },
        };
        let pinned_type = declared.and_then(|ty| {
            let erased = erase_impl_trait(ty);
            (!matches!(erased, Type::Infer(_))).then_some(erased)
        });

        let body = match async_trait {
            Some((before, pin, future, _)) => Body::AsyncTrait { before, pin, future },
            None if func.sig.asyncness.is_some() => Body::Async(&func.block),
            None => Body::Sync(&func.block),
        };

        if let Some((_, key)) = &options.usage {
            if options.output.as_ref().is_some_and(|(output, _)| !output) && matches!(returns, Returns::Unit) {
                errors.push(syn::Error::new_spanned(key, "`usage` needs a return value to read"));
            }
        }

        Model {
            kind,
            options,
            func,
            outer_attrs,
            inner_attrs,
            captures,
            returns,
            pinned_type,
            body,
        }
    }

    /// The span's (or trace's) name: `name = "…"`, else the fn's name.
    pub(crate) fn name(&self) -> LitStr {
        match &self.options.name {
            Some((name, _)) => name.clone(),
            None => {
                let ident = &self.func.sig.ident;
                LitStr::new(&ident.unraw().to_string(), ident.span())
            }
        }
    }

    /// Whether the output is recorded.
    pub(crate) fn records_output(&self) -> bool {
        self.options.output.as_ref().is_none_or(|(output, _)| *output)
    }
}

/// Whether `func` looks like the program's entry point: `fn main()`, no arguments (with
/// `#[tokio::main]` applied first, the sync `fn main` it leaves; applied after, the
/// `async fn main`). An instrumented fn begins its span before its body runs, so on
/// `main` it runs before the client exists; and so rejected, not made to work.
fn is_entry_point(func: &ItemFn) -> bool {
    func.sig.ident == "main" && func.sig.inputs.is_empty()
}

/// The names bound by the fn's typed parameters (`self` is never captured), in order.
fn bound_names(func: &ItemFn) -> Vec<Capture> {
    let mut captures = Vec::new();
    for input in &func.sig.inputs {
        let FnArg::Typed(typed) = input else {
            continue;
        };
        match (&*typed.pat, &*typed.ty) {
            (Pat::Ident(ident), Type::Reference(_)) if ident.subpat.is_none() && ident.by_ref.is_none() => {
                captures.push(Capture {
                    ident: ident.ident.clone(),
                    is_reference: true,
                });
            }
            (pat, _) => {
                let mut names = Vec::new();
                collect_bindings(pat, &mut names);
                captures.extend(names.into_iter().map(|ident| Capture {
                    ident,
                    is_reference: false,
                }));
            }
        }
    }
    captures
}

fn collect_bindings(pat: &Pat, names: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(ident) => {
            names.push(ident.ident.clone());
            if let Some((_, sub)) = &ident.subpat {
                collect_bindings(sub, names);
            }
        }
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| collect_bindings(p, names)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| collect_bindings(p, names)),
        Pat::Struct(item) => item.fields.iter().for_each(|field| collect_bindings(&field.pat, names)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| collect_bindings(p, names)),
        Pat::Reference(reference) => collect_bindings(&reference.pat, names),
        Pat::Paren(paren) => collect_bindings(&paren.pat, names),
        Pat::Type(typed) => collect_bindings(&typed.pat, names),
        Pat::Or(or) => {
            if let Some(first) = or.cases.first() {
                collect_bindings(first, names);
            }
        }
        _ => {}
    }
}

/// For `Result<T, E>`: `Some((Some(T), Some(E)))`; for `io::Result<T>`: `Some((Some(T),
/// None))`; for a bare `Result` alias: `Some((None, None))`; for other types: `None`.
fn result_types(ty: &Type) -> Option<(Option<Type>, Option<Type>)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let mut types = match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
    .into_iter();
    Some((types.next(), types.next()))
}

/// `impl Trait` cannot be named in a `let`; it becomes `_`.
fn erase_impl_trait(mut ty: Type) -> Type {
    struct Eraser;
    impl VisitMut for Eraser {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](impl_trait.impl_token.span),
                });
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    Eraser.visit_type_mut(&mut ty);
    ty
}

// Input:  fn f<'life0, 'async_trait>(&'life0 self, …)
//             -> Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>
//         { Box::pin(async move { … }) }
// Output: (statements before the pin, the `Box::pin(…)` call, the `async move` block, R)
#[allow(clippy::type_complexity)]
fn async_trait_shape(func: &ItemFn) -> Option<(&[Stmt], &Expr, &ExprAsync, Type)> {
    if func.sig.asyncness.is_some() {
        return None;
    }
    let ReturnType::Type(_, ty) = &func.sig.output else {
        return None;
    };
    let output = boxed_future_output(ty)?;
    let (last, before) = func.block.stmts.split_last()?;
    let Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    if callee.path.segments.last()?.ident != "pin" || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(future)) = call.args.first() else {
        return None;
    };
    Some((before, &call.func, future, output))
}

/// `Pin<Box<dyn Future<Output = R> + …>>` → `R`.
fn boxed_future_output(ty: &Type) -> Option<Type> {
    let inner = single_type_argument(ty, "Pin")?;
    let Type::TraitObject(object) = single_type_argument(inner, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

fn single_type_argument<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}
