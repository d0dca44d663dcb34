#if os(Linux)
import CNeptuneLinux
#endif

/// Names the calling thread (Linux keeps 15 bytes), so that `top -H`, `perf` and `/proc/<pid>/task/*/comm` tell the
/// journal and snapshot threads apart from the event loop they were started from (a new thread inherits its
/// creator's name).
func nameCurrentThread(_ name: String) {
#if os(Linux)
    neptune_set_thread_name(name)
#endif
}
