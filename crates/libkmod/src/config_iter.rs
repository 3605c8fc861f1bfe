// SPDX-License-Identifier: LGPL-2.1-or-later
//! `struct kmod_config_iter`: the directives of one kind, as keys and values
//! (kmodcore's [`Config::directives`](kmodcore::config::Config::directives)).

use std::ffi::{c_char, CString};
use std::ptr;

use kmodcore::config::DirectiveKind;

use crate::ctx::{self, Ctx};
use crate::{c_string, guard};

/// An iterator over the directives of one kind. It starts before the first; each
/// `kmod_config_iter_next` moves to the next.
pub struct ConfigIter {
    entries: Vec<(CString, Option<CString>)>,
    /// The entry `next` moved to; `None` before the first call.
    position: Option<usize>,
}

fn new_iter(ctx: *const Ctx, kind: DirectiveKind) -> *mut ConfigIter {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or a live context.
        let Some(c) = (unsafe { ctx::ctx_ref(ctx) }) else {
            return ptr::null_mut();
        };
        let entries = c
            .config()
            .directives(kind)
            .into_iter()
            .map(|(key, value)| (c_string(&key), value.as_deref().map(c_string)))
            .collect();
        Box::into_raw(Box::new(ConfigIter {
            entries,
            position: None,
        }))
    })
}

/// `kmod_config_get_blacklists`.
#[no_mangle]
pub extern "C" fn kmod_config_get_blacklists(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Blacklist)
}

/// `kmod_config_get_install_commands`.
#[no_mangle]
pub extern "C" fn kmod_config_get_install_commands(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Install)
}

/// `kmod_config_get_remove_commands`.
#[no_mangle]
pub extern "C" fn kmod_config_get_remove_commands(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Remove)
}

/// `kmod_config_get_aliases`.
#[no_mangle]
pub extern "C" fn kmod_config_get_aliases(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Alias)
}

/// `kmod_config_get_options`.
#[no_mangle]
pub extern "C" fn kmod_config_get_options(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Options)
}

/// `kmod_config_get_softdeps`.
#[no_mangle]
pub extern "C" fn kmod_config_get_softdeps(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Softdep)
}

/// `kmod_config_get_weakdeps`.
#[no_mangle]
pub extern "C" fn kmod_config_get_weakdeps(ctx: *const Ctx) -> *mut ConfigIter {
    new_iter(ctx, DirectiveKind::Weakdep)
}

/// The entry an iterator is at.
///
/// # Safety
/// `iter` is NULL or a live iterator.
unsafe fn current<'a>(iter: *const ConfigIter) -> Option<&'a (CString, Option<CString>)> {
    // SAFETY: the caller's contract.
    let it = unsafe { iter.as_ref() }?;
    it.entries.get(it.position?)
}

/// `kmod_config_iter_get_key`.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_get_key(iter: *const ConfigIter) -> *const c_char {
    // SAFETY: NULL or live.
    guard(ptr::null(), || match unsafe { current(iter) } {
        Some((key, _)) => key.as_ptr(),
        None => ptr::null(),
    })
}

/// `kmod_config_iter_get_value`: NULL for a blacklist entry.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_get_value(iter: *const ConfigIter) -> *const c_char {
    // SAFETY: NULL or live.
    guard(ptr::null(), || match unsafe { current(iter) } {
        Some((_, Some(value))) => value.as_ptr(),
        _ => ptr::null(),
    })
}

/// `kmod_config_iter_next`: moves to the next entry (the first on the first call); false at
/// the end, after which it starts again from the first, as kmod's does.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_next(iter: *mut ConfigIter) -> bool {
    guard(false, || {
        // SAFETY: NULL or live.
        let Some(it) = (unsafe { iter.as_mut() }) else {
            return false;
        };
        let next = it.position.map_or(0, |p| p.saturating_add(1));
        if next < it.entries.len() {
            it.position = Some(next);
            true
        } else {
            it.position = None;
            false
        }
    })
}

/// `kmod_config_iter_free_iter`.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_free_iter(iter: *mut ConfigIter) {
    guard((), || {
        if !iter.is_null() {
            // SAFETY: made by Box::into_raw in `new_iter`, freed once.
            drop(unsafe { Box::from_raw(iter) });
        }
    })
}
