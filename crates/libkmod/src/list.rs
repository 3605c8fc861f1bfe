// SPDX-License-Identifier: LGPL-2.1-or-later
//! `struct kmod_list`: a circular doubly linked chain of entries, the first entry standing for
//! the list. Each entry carries one pointer; what it points to depends on the list's kind
//! (a module, a modinfo record, a symbol...), and the kind's free function releases it.

use std::ffi::c_void;
use std::ptr;

/// One entry of a list.
#[repr(C)]
#[derive(Debug)]
pub struct KmodList {
    prev: *mut KmodList,
    next: *mut KmodList,
    data: *mut c_void,
}

/// Builds a list of `items` (NULL when there are none).
pub fn from_items(items: impl IntoIterator<Item = *mut c_void>) -> *mut KmodList {
    let mut head: *mut KmodList = ptr::null_mut();
    for data in items {
        let entry = Box::into_raw(Box::new(KmodList {
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            data,
        }));
        if head.is_null() {
            // SAFETY: `entry` was just allocated and is not shared.
            unsafe {
                (*entry).prev = entry;
                (*entry).next = entry;
            }
            head = entry;
        } else {
            // SAFETY: `head` is the chain built above, none of it freed; `entry` is new.
            unsafe { link_last(head, entry) };
        }
    }
    head
}

/// Puts the lone entry `entry` at the end of the chain `head`, between its last entry and
/// its head.
///
/// # Safety
/// `head` is a live chain and `entry` a live entry that belongs to no chain but its own.
unsafe fn link_last(head: *mut KmodList, entry: *mut KmodList) {
    // SAFETY: the caller's contract: both are live, and `head.prev` is an entry of `head`.
    unsafe {
        let last = (*head).prev;
        (*entry).prev = last;
        (*entry).next = head;
        (*last).next = entry;
        (*head).prev = entry;
    }
}

/// The data pointers of a list, in order.
///
/// # Safety
/// `list` is NULL or a list made by [`from_items`] and not freed.
pub unsafe fn items(list: *const KmodList) -> Vec<*mut c_void> {
    let mut out = Vec::new();
    let mut curr = list;
    while !curr.is_null() {
        // SAFETY: `curr` is an entry of the live chain.
        unsafe {
            out.push((*curr).data);
            curr = next(list, curr);
        }
    }
    out
}

/// Frees the entries of a list, handing each data pointer to `release` first.
///
/// # Safety
/// As [`items`]; no entry is used afterwards.
pub unsafe fn free(list: *mut KmodList, mut release: impl FnMut(*mut c_void)) {
    let mut curr = list;
    while !curr.is_null() {
        // SAFETY: `curr` is an entry of the live chain, freed once, after its successor was
        // read.
        unsafe {
            let following = next(list, curr);
            release((*curr).data);
            drop(Box::from_raw(curr));
            curr = following;
        }
    }
}

/// A list whose entries each own one boxed `T` (a modinfo record, a symbol...), freed with
/// [`free_boxed`].
pub fn from_boxed<T>(items: impl IntoIterator<Item = T>) -> *mut KmodList {
    from_items(
        items
            .into_iter()
            .map(|item| Box::into_raw(Box::new(item)).cast::<c_void>()),
    )
}

/// Frees a list made by [`from_boxed`] with the same `T`, and what its entries own.
///
/// # Safety
/// As [`free`].
pub unsafe fn free_boxed<T>(list: *mut KmodList) {
    // SAFETY: the caller's contract; each data pointer came from Box::into_raw of a `T`.
    unsafe {
        free(list, |data| {
            if !data.is_null() {
                drop(Box::from_raw(data.cast::<T>()));
            }
        })
    }
}

/// The `T` an entry of a [`from_boxed`] list owns; `None` for a NULL entry or data.
///
/// # Safety
/// `entry` is NULL or a live entry of a list made by [`from_boxed`] with the same `T`.
pub unsafe fn boxed<'a, T>(entry: *const KmodList) -> Option<&'a T> {
    // SAFETY: the caller's contract.
    unsafe { data(entry).cast::<T>().as_ref() }
}

/// The data pointer of an entry (NULL for NULL).
///
/// # Safety
/// `entry` is NULL or a live entry.
pub unsafe fn data(entry: *const KmodList) -> *mut c_void {
    if entry.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: a live entry.
        unsafe { (*entry).data }
    }
}

/// The entry after `curr` in `list`, NULL at the end.
///
/// # Safety
/// Both are NULL or live entries of one chain.
unsafe fn next(list: *const KmodList, curr: *const KmodList) -> *mut KmodList {
    if list.is_null() || curr.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: a live entry.
    let following = unsafe { (*curr).next };
    if ptr::eq(following, list) {
        ptr::null_mut()
    } else {
        following
    }
}

/// `kmod_list_next`.
#[no_mangle]
pub unsafe extern "C" fn kmod_list_next(
    list: *const KmodList,
    curr: *const KmodList,
) -> *mut KmodList {
    // SAFETY: the caller's entries belong to `list` (kmod's contract).
    crate::guard(ptr::null_mut(), || unsafe { next(list, curr) })
}

/// `kmod_list_prev`.
#[no_mangle]
pub unsafe extern "C" fn kmod_list_prev(
    list: *const KmodList,
    curr: *const KmodList,
) -> *mut KmodList {
    crate::guard(ptr::null_mut(), || {
        if list.is_null() || curr.is_null() || ptr::eq(list, curr) {
            return ptr::null_mut();
        }
        // SAFETY: a live entry of the caller's list.
        unsafe { (*curr).prev }
    })
}

/// `kmod_list_last`.
#[no_mangle]
pub unsafe extern "C" fn kmod_list_last(list: *const KmodList) -> *mut KmodList {
    crate::guard(ptr::null_mut(), || {
        if list.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a live list.
        unsafe { (*list).prev }
    })
}

/// `kmod_list_append`: kmod's *private* function that adds `data` at the end of `list` (NULL:
/// a new list) and returns the list. No kmod libkmod.so.2 exports it; rkmod's does, under its
/// own version node `RKMOD_PRIVATE`, for one caller: kmod's testsuite (test-blacklist builds
/// a list of modules with it). Not part of kmod's API: a program that uses it does not link
/// against kmod's library.
///
/// # Safety
/// `list` is NULL or a live list of this library (modules, for the module list functions).
#[no_mangle]
pub unsafe extern "C" fn kmod_list_append(
    list: *mut KmodList,
    data: *const c_void,
) -> *mut KmodList {
    crate::guard(ptr::null_mut(), || {
        let entry = from_items([data.cast_mut()]);
        if list.is_null() {
            return entry;
        }
        // SAFETY: `list` is a live chain (the caller's contract) and `entry` a new one-entry
        // chain.
        unsafe { link_last(list, entry) };
        list
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_adds_at_the_end() {
        let values: Vec<usize> = vec![1, 2, 3];
        let mut list = ptr::null_mut();
        for v in &values {
            // SAFETY: a list of this module's making.
            list = unsafe { kmod_list_append(list, (v as *const usize).cast()) };
        }
        // SAFETY: as above; the data pointers are the values' addresses.
        let got: Vec<usize> = unsafe { items(list) }
            .into_iter()
            .map(|p| unsafe { *p.cast::<usize>() })
            .collect();
        assert_eq!(got, values);
        // SAFETY: as above; the data is not owned by the list.
        unsafe { free(list, |_| {}) };
    }

    #[test]
    fn walks_both_ways_and_frees_every_item() {
        let list = from_items((1..=3usize).map(|n| n as *mut c_void));
        unsafe {
            assert_eq!(items(list), [1, 2, 3].map(|n: usize| n as *mut c_void));
            let last = kmod_list_last(list);
            assert_eq!(data(last) as usize, 3);
            let middle = kmod_list_prev(list, last);
            assert_eq!(data(middle) as usize, 2);
            assert!(kmod_list_prev(list, list).is_null());
            assert!(kmod_list_next(list, last).is_null());
            let mut released = Vec::new();
            free(list, |d| released.push(d as usize));
            assert_eq!(released, [1, 2, 3]);
        }
        assert!(from_items(std::iter::empty()).is_null());
    }
}
