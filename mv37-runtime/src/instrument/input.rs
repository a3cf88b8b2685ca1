//! The input object of an instrumented fn: its captured arguments, serialized in order
//! straight into the payload text, and the probe that reports an argument that is not
//! `Serialize` once, at the argument.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// An argument captured into the input object of an instrumented fn.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Serialize`, so this argument cannot be captured as the input",
    label = "not `Serialize`",
    note = "skip the argument with `skip(name)` (or every argument with `skip_all`), or derive `serde::Serialize` for `{Self}`"
)]
pub trait InputArgument: Serialize {}
impl<T: Serialize + ?Sized> InputArgument for T {}

/// Starts an input object: `{"arg": value, ...}`, written by `serde_json` straight into
/// the payload text (no `serde_json::Value` in between).
#[inline]
pub fn input() -> Input<End> {
    Input(End)
}

/// The arguments captured so far, in order.
#[derive(Debug)]
pub struct Input<L>(L);

/// The empty argument list.
#[derive(Debug)]
pub struct End;

/// One captured argument `value` (see [`CapturedArgument`]), after the ones in `rest`.
#[derive(Debug)]
pub struct Field<V, L> {
    rest: L,
    name: &'static str,
    value: V,
}

/// A list of captured arguments.
pub trait Entries {
    /// How many arguments.
    const LEN: usize;
    /// Writes them as map entries, first argument first.
    fn entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
}

impl Entries for End {
    const LEN: usize = 0;
    #[inline]
    fn entries<M: SerializeMap>(&self, _: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

impl<V: Serialize, L: Entries> Entries for Field<V, L> {
    const LEN: usize = L::LEN + 1;
    #[inline]
    fn entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        self.rest.entries(map)?;
        map.serialize_entry(self.name, &self.value)
    }
}

impl<L> Input<L> {
    /// Adds the argument `name`: `value` is `probe(&argument).capture()`. The bound on
    /// the argument's type is checked here, and only here.
    #[inline]
    pub fn field<V: CapturedArgument<Argument: InputArgument>>(
        self,
        name: &'static str,
        value: V,
    ) -> Input<Field<V, L>> {
        Input(Field {
            rest: self.0,
            name,
            value,
        })
    }
}

// Input:  .field("db", probe(&*db).capture())
// Output: for `db: &T` with `T: Serialize`, `capture` is `ArgumentProbe::capture` and
//         gives `&T`; otherwise method lookup derefs to `ArgumentFallback::capture`,
//         which gives `NotSerialize<T>`. `field` then reports `T: InputArgument` once,
//         at the argument, while `NotSerialize` is `Serialize` for any `T` so that the
//         input object's own `Serialize` bound does not fail a second time.

/// Starts the capture of one argument; see [`ArgumentProbe::capture`].
#[inline]
pub fn probe<T: ?Sized>(argument: &T) -> ArgumentProbe<'_, T> {
    ArgumentProbe(ArgumentFallback(argument))
}

/// One argument about to be captured: `capture` picks how by whether it is `Serialize`.
#[derive(Debug)]
pub struct ArgumentProbe<'a, T: ?Sized>(ArgumentFallback<'a, T>);

impl<'a, T: Serialize + ?Sized> ArgumentProbe<'a, T> {
    /// The argument itself, to be serialized.
    #[inline]
    pub fn capture(&self) -> &'a T {
        self.0 .0
    }
}

impl<'a, T: ?Sized> std::ops::Deref for ArgumentProbe<'a, T> {
    type Target = ArgumentFallback<'a, T>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The method lookup of [`ArgumentProbe::capture`] reaches this when the argument is
/// not `Serialize`.
#[derive(Debug)]
pub struct ArgumentFallback<'a, T: ?Sized>(&'a T);

impl<'a, T: ?Sized> ArgumentFallback<'a, T> {
    /// A stand-in that [`Input::field`] rejects with the message of [`InputArgument`].
    #[inline]
    pub fn capture(&self) -> NotSerialize<'a, T> {
        NotSerialize(std::marker::PhantomData)
    }
}

/// Stands in for an argument that is not `Serialize`; a program that has one does not
/// compile, so its `Serialize` impl never runs (it returns an error if it ever did).
#[derive(Debug)]
pub struct NotSerialize<'a, T: ?Sized>(std::marker::PhantomData<&'a T>);

impl<T: ?Sized> Serialize for NotSerialize<'_, T> {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this argument is not `Serialize`"))
    }
}

/// What [`Input::field`] takes: a captured argument of type `Argument`.
pub trait CapturedArgument {
    /// The argument's type.
    type Argument: ?Sized;
}

impl<T: ?Sized> CapturedArgument for &T {
    type Argument = T;
}

impl<T: ?Sized> CapturedArgument for NotSerialize<'_, T> {
    type Argument = T;
}

impl<L: Entries> Serialize for Input<L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(L::LEN))?;
        self.0.entries(&mut map)?;
        map.end()
    }
}
