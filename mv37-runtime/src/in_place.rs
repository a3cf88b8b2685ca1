//! Pushing onto a `Vec` without a temporary.
//!
//! `Vec::push` of a value made from parts compiles to the value built in a temporary on
//! the stack (it must survive the call that grows the vector) and copied into the slot
//! after the capacity check. The copy's 16-byte loads span the temporary's narrower
//! stores, which the CPU cannot forward, so each waits for those stores to reach the
//! cache: a fifth of a span's start and a sixth of a chunk's `add` in perf profiles.
//! [`push_in_place`] checks the room first, so that on the usual path nothing can grow
//! the vector and the value is written straight into its slot.

/// Pushes `value` onto `vec`, written straight into its slot when `vec` has room (see
/// the module doc); the growing push is out of line.
#[inline(always)]
pub(crate) fn push_in_place<T>(vec: &mut Vec<T>, value: T) {
    if vec.len() < vec.capacity() {
        vec.push(value);
    } else {
        push_growing(vec, value);
    }
}

#[cold]
#[inline(never)]
fn push_growing<T>(vec: &mut Vec<T>, value: T) {
    vec.push(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_with_and_without_room_keep_every_value_in_order() {
        let mut values = Vec::with_capacity(2);
        for value in 0..100 {
            push_in_place(&mut values, value.to_string());
        }
        let expected: Vec<String> = (0..100).map(|value| value.to_string()).collect();
        assert_eq!(values, expected);
    }
}
