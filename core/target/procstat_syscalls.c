/*
 * procstat_syscalls: system call numbers to names, for the thread sampler's
 * "blocked in futex / epoll_wait / nanosleep". A table, one row a call,
 * built from the C library's SYS_* numbers of the architecture compiled
 * for, so the same rows serve x86_64 and aarch64 (a row whose call the
 * architecture lacks, such as poll on aarch64, drops out). The calls a
 * server blocks or spends time in; others are shown as "syscall NR".
 */
#include "target/procstat.h"

#include <stddef.h>
#include <sys/syscall.h>

struct syscall_row {
    int nr;
    const char *name;
};

#define ROW(name) {SYS_##name, #name},
static const struct syscall_row rows[] = {
#ifdef SYS_accept
    ROW(accept)
#endif
#ifdef SYS_accept4
    ROW(accept4)
#endif
#ifdef SYS_access
    ROW(access)
#endif
#ifdef SYS_alarm
    ROW(alarm)
#endif
#ifdef SYS_bind
    ROW(bind)
#endif
#ifdef SYS_brk
    ROW(brk)
#endif
#ifdef SYS_chdir
    ROW(chdir)
#endif
#ifdef SYS_clock_gettime
    ROW(clock_gettime)
#endif
#ifdef SYS_clock_nanosleep
    ROW(clock_nanosleep)
#endif
#ifdef SYS_clone
    ROW(clone)
#endif
#ifdef SYS_clone3
    ROW(clone3)
#endif
#ifdef SYS_close
    ROW(close)
#endif
#ifdef SYS_connect
    ROW(connect)
#endif
#ifdef SYS_copy_file_range
    ROW(copy_file_range)
#endif
#ifdef SYS_dup
    ROW(dup)
#endif
#ifdef SYS_dup2
    ROW(dup2)
#endif
#ifdef SYS_dup3
    ROW(dup3)
#endif
#ifdef SYS_epoll_create
    ROW(epoll_create)
#endif
#ifdef SYS_epoll_create1
    ROW(epoll_create1)
#endif
#ifdef SYS_epoll_ctl
    ROW(epoll_ctl)
#endif
#ifdef SYS_epoll_pwait
    ROW(epoll_pwait)
#endif
#ifdef SYS_epoll_pwait2
    ROW(epoll_pwait2)
#endif
#ifdef SYS_epoll_wait
    ROW(epoll_wait)
#endif
#ifdef SYS_eventfd
    ROW(eventfd)
#endif
#ifdef SYS_eventfd2
    ROW(eventfd2)
#endif
#ifdef SYS_execve
    ROW(execve)
#endif
#ifdef SYS_exit
    ROW(exit)
#endif
#ifdef SYS_exit_group
    ROW(exit_group)
#endif
#ifdef SYS_fallocate
    ROW(fallocate)
#endif
#ifdef SYS_fcntl
    ROW(fcntl)
#endif
#ifdef SYS_fdatasync
    ROW(fdatasync)
#endif
#ifdef SYS_flock
    ROW(flock)
#endif
#ifdef SYS_fork
    ROW(fork)
#endif
#ifdef SYS_fstat
    ROW(fstat)
#endif
#ifdef SYS_fsync
    ROW(fsync)
#endif
#ifdef SYS_ftruncate
    ROW(ftruncate)
#endif
#ifdef SYS_futex
    ROW(futex)
#endif
#ifdef SYS_futex_wait
    ROW(futex_wait)
#endif
#ifdef SYS_futex_waitv
    ROW(futex_waitv)
#endif
#ifdef SYS_futex_wake
    ROW(futex_wake)
#endif
#ifdef SYS_getcwd
    ROW(getcwd)
#endif
#ifdef SYS_getdents
    ROW(getdents)
#endif
#ifdef SYS_getdents64
    ROW(getdents64)
#endif
#ifdef SYS_getitimer
    ROW(getitimer)
#endif
#ifdef SYS_getpeername
    ROW(getpeername)
#endif
#ifdef SYS_getpid
    ROW(getpid)
#endif
#ifdef SYS_getrandom
    ROW(getrandom)
#endif
#ifdef SYS_getsockname
    ROW(getsockname)
#endif
#ifdef SYS_getsockopt
    ROW(getsockopt)
#endif
#ifdef SYS_gettimeofday
    ROW(gettimeofday)
#endif
#ifdef SYS_io_getevents
    ROW(io_getevents)
#endif
#ifdef SYS_io_setup
    ROW(io_setup)
#endif
#ifdef SYS_io_submit
    ROW(io_submit)
#endif
#ifdef SYS_io_uring_enter
    ROW(io_uring_enter)
#endif
#ifdef SYS_io_uring_register
    ROW(io_uring_register)
#endif
#ifdef SYS_io_uring_setup
    ROW(io_uring_setup)
#endif
#ifdef SYS_ioctl
    ROW(ioctl)
#endif
#ifdef SYS_kill
    ROW(kill)
#endif
#ifdef SYS_listen
    ROW(listen)
#endif
#ifdef SYS_lseek
    ROW(lseek)
#endif
#ifdef SYS_lstat
    ROW(lstat)
#endif
#ifdef SYS_madvise
    ROW(madvise)
#endif
#ifdef SYS_membarrier
    ROW(membarrier)
#endif
#ifdef SYS_memfd_create
    ROW(memfd_create)
#endif
#ifdef SYS_mkdir
    ROW(mkdir)
#endif
#ifdef SYS_mkdirat
    ROW(mkdirat)
#endif
#ifdef SYS_mmap
    ROW(mmap)
#endif
#ifdef SYS_mprotect
    ROW(mprotect)
#endif
#ifdef SYS_mremap
    ROW(mremap)
#endif
#ifdef SYS_msync
    ROW(msync)
#endif
#ifdef SYS_munmap
    ROW(munmap)
#endif
#ifdef SYS_nanosleep
    ROW(nanosleep)
#endif
#ifdef SYS_newfstatat
    ROW(newfstatat)
#endif
#ifdef SYS_open
    ROW(open)
#endif
#ifdef SYS_openat
    ROW(openat)
#endif
#ifdef SYS_pause
    ROW(pause)
#endif
#ifdef SYS_pipe
    ROW(pipe)
#endif
#ifdef SYS_pipe2
    ROW(pipe2)
#endif
#ifdef SYS_poll
    ROW(poll)
#endif
#ifdef SYS_ppoll
    ROW(ppoll)
#endif
#ifdef SYS_prctl
    ROW(prctl)
#endif
#ifdef SYS_pread64
    ROW(pread64)
#endif
#ifdef SYS_preadv
    ROW(preadv)
#endif
#ifdef SYS_preadv2
    ROW(preadv2)
#endif
#ifdef SYS_pselect6
    ROW(pselect6)
#endif
#ifdef SYS_pwrite64
    ROW(pwrite64)
#endif
#ifdef SYS_pwritev
    ROW(pwritev)
#endif
#ifdef SYS_pwritev2
    ROW(pwritev2)
#endif
#ifdef SYS_read
    ROW(read)
#endif
#ifdef SYS_readlink
    ROW(readlink)
#endif
#ifdef SYS_readlinkat
    ROW(readlinkat)
#endif
#ifdef SYS_readv
    ROW(readv)
#endif
#ifdef SYS_recvfrom
    ROW(recvfrom)
#endif
#ifdef SYS_recvmmsg
    ROW(recvmmsg)
#endif
#ifdef SYS_recvmsg
    ROW(recvmsg)
#endif
#ifdef SYS_rename
    ROW(rename)
#endif
#ifdef SYS_renameat
    ROW(renameat)
#endif
#ifdef SYS_rmdir
    ROW(rmdir)
#endif
#ifdef SYS_rseq
    ROW(rseq)
#endif
#ifdef SYS_rt_sigaction
    ROW(rt_sigaction)
#endif
#ifdef SYS_rt_sigprocmask
    ROW(rt_sigprocmask)
#endif
#ifdef SYS_rt_sigsuspend
    ROW(rt_sigsuspend)
#endif
#ifdef SYS_rt_sigtimedwait
    ROW(rt_sigtimedwait)
#endif
#ifdef SYS_sched_getaffinity
    ROW(sched_getaffinity)
#endif
#ifdef SYS_sched_getparam
    ROW(sched_getparam)
#endif
#ifdef SYS_sched_setaffinity
    ROW(sched_setaffinity)
#endif
#ifdef SYS_sched_yield
    ROW(sched_yield)
#endif
#ifdef SYS_select
    ROW(select)
#endif
#ifdef SYS_sendfile
    ROW(sendfile)
#endif
#ifdef SYS_sendmmsg
    ROW(sendmmsg)
#endif
#ifdef SYS_sendmsg
    ROW(sendmsg)
#endif
#ifdef SYS_sendto
    ROW(sendto)
#endif
#ifdef SYS_set_robust_list
    ROW(set_robust_list)
#endif
#ifdef SYS_setitimer
    ROW(setitimer)
#endif
#ifdef SYS_setsockopt
    ROW(setsockopt)
#endif
#ifdef SYS_shutdown
    ROW(shutdown)
#endif
#ifdef SYS_sigaltstack
    ROW(sigaltstack)
#endif
#ifdef SYS_signalfd
    ROW(signalfd)
#endif
#ifdef SYS_signalfd4
    ROW(signalfd4)
#endif
#ifdef SYS_socket
    ROW(socket)
#endif
#ifdef SYS_socketpair
    ROW(socketpair)
#endif
#ifdef SYS_splice
    ROW(splice)
#endif
#ifdef SYS_stat
    ROW(stat)
#endif
#ifdef SYS_statx
    ROW(statx)
#endif
#ifdef SYS_sync_file_range
    ROW(sync_file_range)
#endif
#ifdef SYS_sysinfo
    ROW(sysinfo)
#endif
#ifdef SYS_tee
    ROW(tee)
#endif
#ifdef SYS_tgkill
    ROW(tgkill)
#endif
#ifdef SYS_timerfd_create
    ROW(timerfd_create)
#endif
#ifdef SYS_timerfd_gettime
    ROW(timerfd_gettime)
#endif
#ifdef SYS_timerfd_settime
    ROW(timerfd_settime)
#endif
#ifdef SYS_truncate
    ROW(truncate)
#endif
#ifdef SYS_unlink
    ROW(unlink)
#endif
#ifdef SYS_unlinkat
    ROW(unlinkat)
#endif
#ifdef SYS_vfork
    ROW(vfork)
#endif
#ifdef SYS_vmsplice
    ROW(vmsplice)
#endif
#ifdef SYS_wait4
    ROW(wait4)
#endif
#ifdef SYS_waitid
    ROW(waitid)
#endif
#ifdef SYS_write
    ROW(write)
#endif
#ifdef SYS_writev
    ROW(writev)
#endif
};
#undef ROW

const char *procstat_syscall_name(int nr)
{
    if (nr < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].nr == nr)
            return rows[i].name;
    return NULL;
}
