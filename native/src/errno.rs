//! errno -> (code, message) exactly like libuv's `uv_err_name` / `uv_strerror`, which is what
//! Node puts in fs error messages (`ENOENT: no such file or directory, open '/x'`).

use crate::sys::libc as c;

/// The calling thread's errno after a failed call (EIO if the OS somehow reported none).
pub fn last() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(c::EIO)
}

pub fn describe(errno: i32) -> (String, String) {
    let (code, msg) = match errno {
        c::EPERM => ("EPERM", "operation not permitted"),
        c::ENOENT => ("ENOENT", "no such file or directory"),
        c::EINTR => ("EINTR", "interrupted system call"),
        c::EIO => ("EIO", "i/o error"),
        c::ENXIO => ("ENXIO", "no such device or address"),
        c::E2BIG => ("E2BIG", "argument list too long"),
        c::EBADF => ("EBADF", "bad file descriptor"),
        c::EAGAIN => ("EAGAIN", "resource temporarily unavailable"),
        c::ENOMEM => ("ENOMEM", "not enough memory"),
        c::EACCES => ("EACCES", "permission denied"),
        c::EFAULT => ("EFAULT", "bad address in system call argument"),
        c::EBUSY => ("EBUSY", "resource busy or locked"),
        c::EEXIST => ("EEXIST", "file already exists"),
        c::ENODEV => ("ENODEV", "no such device"),
        c::ENOTDIR => ("ENOTDIR", "not a directory"),
        c::EISDIR => ("EISDIR", "illegal operation on a directory"),
        c::EINVAL => ("EINVAL", "invalid argument"),
        c::ENFILE => ("ENFILE", "file table overflow"),
        c::EMFILE => ("EMFILE", "too many open files"),
        c::ETXTBSY => ("ETXTBSY", "text file is busy"),
        c::EFBIG => ("EFBIG", "file too large"),
        c::ESPIPE => ("ESPIPE", "invalid seek"),
        c::EROFS => ("EROFS", "read-only file system"),
        c::ENAMETOOLONG => ("ENAMETOOLONG", "name too long"),
        c::ELOOP => ("ELOOP", "too many symbolic links encountered"),
        c::EOVERFLOW => ("EOVERFLOW", "value too large for defined data type"),
        c::ENOTSUP => ("ENOTSUP", "operation not supported on socket"),
        _ => {
            let text = std::io::Error::from_raw_os_error(errno).to_string();
            let text = text.split(" (os error").next().unwrap_or("").to_lowercase();
            return (format!("E{errno}"), text);
        }
    };
    (code.to_string(), msg.to_string())
}
