/* vmm-glue's inside: what a driver implements and the helpers the drivers
 * share.  Only vmm-glue/ includes this; fabric-agent sees vmm.h alone. */
#ifndef VMM_GLUE_VMM_PROVIDER_H
#define VMM_GLUE_VMM_PROVIDER_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vmm-glue/vmm.h"

/* A driver's functions.  Each has the meaning of the vmm_*() function of
 * the same name in vmm.h; vmm.c checks the arguments every driver would
 * check (names, NULL pointers) before it calls them. */
struct vmm_class {
    const char *type; /* "qemu", "libvirt". */
    int (*open)(const struct vmm_options *, struct vmm **);
    void (*close)(struct vmm *);
    int (*start)(struct vmm *, const struct vmm_spec *);
    int (*stop)(struct vmm *, const char *name, int timeout);
    int (*reboot)(struct vmm *, const char *name);
    int (*destroy)(struct vmm *, const char *name);
    int (*status)(struct vmm *, const char *name, struct vmm_status *);
    int (*list)(struct vmm *, vmm_list_cb *, void *aux);
    int (*console)(struct vmm *, const char *name, size_t max, char **text);
    int (*migrate_in)(struct vmm *, const char *name, const char *uri);
    int (*migrate_out)(struct vmm *, const char *name, const char *uri);
    int (*migration)(struct vmm *, const char *name, struct vmm_migration *);
    int (*migrate_set)(struct vmm *, const char *name,
                       const struct vmm_migrate_params *);
    int (*migrate_continue)(struct vmm *, const char *name);
    int (*migrate_cancel)(struct vmm *, const char *name);
};

/* The start of every driver's handle. */
struct vmm {
    const struct vmm_class *class; /* Its driver. */
};

extern const struct vmm_class vmm_qemu_class;
extern const struct vmm_class vmm_libvirt_class;

/* Checks what every driver needs of 'spec' before it starts anything: a
 * valid name and UUID, 1..VMM_VCPUS_MAX vCPUs, VMM_MEMORY_MIN_MB..
 * VMM_MEMORY_MAX_MB of memory, a disk (and seed, if any) that exist, and
 * NICs whose devices are existing taps.  Returns 0, EINVAL or ENOENT, and
 * logs what was wrong. */
#define VMM_VCPUS_MAX 255
#define VMM_MEMORY_MIN_MB 16
#define VMM_MEMORY_MAX_MB (4ull << 20) /* 4 TiB. */
int vmm_spec_check(const struct vmm_spec *);

/* 'spec' as JSON, and back (0 or EINVAL, logged), for the drivers that
 * keep it on disk. */
json_t *vmm_spec_to_json(const struct vmm_spec *);
int vmm_spec_from_json(const json_t *, struct vmm_spec *);
void vmm_spec_clone(struct vmm_spec *dst, const struct vmm_spec *src);

/* Runs 'argv' (argv[0] looked up in $PATH) with no inherited descriptors
 * but standard input from /dev/null and standard output and error to a
 * pipe, waits for it and returns 0 if it exited 0, else EIO.  '*output'
 * (if not NULL) gets what it printed, NUL-terminated, which the caller
 * frees. */
int vmm_run(char *const argv[], char **output);

/* Checks that driver 'type''s run directory 'run_dir' is an absolute path
 * and makes it (with 'mode') if it is missing.  Returns 0 or an errno
 * value, logged. */
int vmm_run_dir_make(const char *type, const char *run_dir, mode_t mode);

/* The last 'max' bytes (at most) of RUN_DIR/NAME/console.log, the file
 * both drivers send a VM's serial console to; "" when it is not there yet.
 */
int vmm_console_file(const char *run_dir, const char *name, size_t max,
                     char **text);

/* Copies the last 'max' bytes (at most) of file 'path' into '*text'. */
int vmm_read_tail(const char *path, size_t max, char **text);

/* Fills in 'status''s CPU time, resident memory and start time from
 * /proc for hypervisor process 'pid'. */
void vmm_proc_usage(int pid, struct vmm_status *status);

/* Formats 'mac' as "02:00:00:00:00:01" into 'buf'. */
void vmm_mac_format(const uint8_t mac[6], char buf[18]);

/* Whether network device 'name' exists in this process's network
 * namespace and is a tap device. */
bool vmm_is_tap(const char *name);

/* The last line of 'text' with trailing white space cut off, in a new
 * string, for a one-line error message from a program's output. */
char *vmm_last_line(const char *text);

#endif /* vmm-glue/vmm-provider.h */
