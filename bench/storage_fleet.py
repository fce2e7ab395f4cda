"""A synthetic fleet for the storage benchmark: the real probe records, one poll at a time.

What makes it realistic (and what compression has to cope with):

- counters that grow with noisy rates and go back to zero when a host reboots (a host
  that reboots also misses a poll or two);
- many near-constant series, as real fleets have: loop devices and idle interfaces whose
  counters never move, memory and file system sizes, temperature limits, GPU power limits;
- gauges with small noise (temperatures, load, memory in use), jobs that start and stop;
- about 250 processes per host: kernel threads and daemons that live for the whole boot
  with stable command lines, job processes that live for hours, and short-lived commands
  (the poller's own ``sh``/``ps``, cron jobs, shells) with fresh pids every poll;
- kernel modules identical across hosts of a kind;
- timestamps with per-host offsets and a second of jitter, second resolution, as polls have.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from onion.inventory.model import Host
from onion.poller.collect import HostResult, ProbeResult
from onion.probes.base import OS
from onion.probes.cpu import Cpu
from onion.probes.disk_io import DiskIo
from onion.probes.filesystems import Filesystem
from onion.probes.gpu import Gpu
from onion.probes.memory import Memory
from onion.probes.modules import Module
from onion.probes.network import Interface
from onion.probes.processes import Process
from onion.probes.system import System
from onion.probes.temperatures import Temperature

PROBES = ("cpu", "disk_io", "filesystems", "gpu", "memory", "modules", "network",
          "processes", "system", "temperatures")
PID_MAX = 4194304
KIB = 1024
GIB_KIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Role:
    ncpu: int
    mem_kib: int              # MemTotal, as /proc/meminfo says it (same hardware, same value)
    gpus: int
    swap_kib: int
    job_ranks: int            # processes per job
    shells: int               # short-lived interactive processes per poll (login nodes)


ROLES = {
    "login": Role(32, 263_846_012, 0, 8 * GIB_KIB, 0, 25),
    "compute": Role(64, 527_929_336, 0, 0, 16, 0),
    "gpu": Role(96, 1_056_466_652, 4, 0, 8, 0),
}

_MODULES = [  # name, size, use count, used by
    ("xt_conntrack", 16384, 1, None), ("nft_chain_nat", 16384, 3, None),
    ("xt_MASQUERADE", 20480, 1, None), ("nf_nat", 57344, 2, "nft_chain_nat,xt_MASQUERADE"),
    ("nf_conntrack_netlink", 57344, 0, None), ("nf_conntrack", 188416, 4,
                                               "xt_conntrack,nf_nat,nf_conntrack_netlink"),
    ("nf_defrag_ipv6", 24576, 1, "nf_conntrack"), ("nf_defrag_ipv4", 16384, 1, "nf_conntrack"),
    ("xfrm_user", 53248, 1, None), ("xfrm_algo", 16384, 1, "xfrm_user"),
    ("xt_addrtype", 16384, 2, None), ("nft_compat", 20480, 4, None),
    ("nf_tables", 319488, 65, "nft_chain_nat,nft_compat"),
    ("libcrc32c", 16384, 3, "nf_conntrack,nf_nat,nf_tables"),
    ("nfnetlink", 20480, 4, "nft_compat,nf_conntrack_netlink,nf_tables"),
    ("br_netfilter", 32768, 0, None), ("bridge", 311296, 1, "br_netfilter"),
    ("stp", 16384, 1, "bridge"), ("llc", 16384, 2, "bridge,stp"), ("overlay", 151552, 0, None),
    ("rpcsec_gss_krb5", 36864, 0, None), ("nfsv4", 1015808, 4, None),
    ("dns_resolver", 16384, 1, "nfsv4"), ("nfs", 450560, 5, "nfsv4"),
    ("fscache", 389120, 1, "nfs"), ("netfs", 57344, 2, "nfs,fscache"),
    ("lustre", 1126400, 22, None), ("lmv", 212992, 1, "lustre"), ("mdc", 286720, 1, "lustre"),
    ("lov", 344064, 2, "mdc,lustre"), ("osc", 458752, 17, None), ("fid", 36864, 2, "mdc,osc"),
    ("fld", 40960, 3, "lmv,lustre"), ("ko2iblnd", 237568, 1, None),
    ("ptlrpc", 2449408, 7, "fld,osc,fid,lov,mdc,lmv,lustre"),
    ("obdclass", 3325952, 8, "fld,osc,fid,ptlrpc,lov,mdc,lmv,lustre"),
    ("lnet", 630784, 6, "osc,obdclass,ptlrpc,ko2iblnd,lustre"),
    ("libcfs", 925696, 11, "fld,lnet,osc,fid,obdclass,ptlrpc,ko2iblnd,lov,mdc,lmv,lustre"),
    ("rdma_ucm", 28672, 0, None), ("rdma_cm", 122880, 2, "ko2iblnd,rdma_ucm"),
    ("iw_cm", 53248, 1, "rdma_cm"), ("ib_ipoib", 135168, 0, None),
    ("ib_cm", 131072, 2, "rdma_cm,ib_ipoib"), ("ib_umad", 28672, 0, None),
    ("mlx5_ib", 397312, 0, None), ("ib_uverbs", 163840, 2, "rdma_ucm,mlx5_ib"),
    ("ib_core", 434176, 8, "rdma_cm,ib_ipoib,ko2iblnd,iw_cm,ib_umad,rdma_ucm,ib_uverbs,mlx5_ib"),
    ("mlx5_core", 1839104, 1, "mlx5_ib"), ("mlxfw", 36864, 1, "mlx5_core"),
    ("psample", 20480, 1, "mlx5_core"), ("tls", 114688, 1, "mlx5_core"),
    ("pci_hyperv_intf", 16384, 1, "mlx5_core"), ("sunrpc", 692224, 21,
                                                 "nfsv4,auth_rpcgss,lockd,rpcsec_gss_krb5,nfs"),
    ("auth_rpcgss", 155648, 2, "rpcsec_gss_krb5,sunrpc"), ("lockd", 131072, 1, "nfs"),
    ("grace", 16384, 1, "lockd"), ("intel_rapl_msr", 20480, 0, None),
    ("intel_rapl_common", 32768, 1, "intel_rapl_msr"), ("intel_uncore_frequency", 16384, 0, None),
    ("intel_uncore_frequency_common", 16384, 1, "intel_uncore_frequency"),
    ("i10nm_edac", 32768, 0, None), ("nfit", 81920, 1, "i10nm_edac"),
    ("x86_pkg_temp_thermal", 20480, 0, None), ("intel_powerclamp", 20480, 0, None),
    ("coretemp", 20480, 0, None), ("kvm_intel", 380928, 0, None), ("kvm", 1142784, 1,
                                                                     "kvm_intel"),
    ("irqbypass", 16384, 1, "kvm"), ("rapl", 20480, 0, None), ("intel_cstate", 20480, 0, None),
    ("ipmi_ssif", 40960, 0, None), ("mei_me", 49152, 0, None), ("mei", 159744, 1, "mei_me"),
    ("isst_if_mmio", 16384, 0, None), ("isst_if_mbox_pci", 16384, 0, None),
    ("isst_if_common", 20480, 2, "isst_if_mmio,isst_if_mbox_pci"),
    ("intel_pch_thermal", 20480, 0, None), ("acpi_ipmi", 20480, 0, None),
    ("ipmi_si", 81920, 1, None), ("ipmi_devintf", 20480, 0, None),
    ("ipmi_msghandler", 77824, 4, "ipmi_devintf,ipmi_si,acpi_ipmi,ipmi_ssif"),
    ("acpi_power_meter", 20480, 0, None), ("acpi_pad", 184320, 0, None),
    ("evdev", 28672, 3, None), ("joydev", 28672, 0, None), ("sg", 40960, 0, None),
    ("dm_multipath", 45056, 0, None), ("dm_mod", 184320, 1, "dm_multipath"),
    ("msr", 16384, 0, None), ("efi_pstore", 16384, 0, None), ("configfs", 57344, 1, None),
    ("ip_tables", 32768, 0, None), ("x_tables", 61440, 5,
                                    "xt_conntrack,nft_compat,xt_addrtype,xt_MASQUERADE,ip_tables"),
    ("autofs4", 53248, 2, None), ("ext4", 1007616, 2, None), ("crc16", 16384, 1, "ext4"),
    ("mbcache", 16384, 1, "ext4"), ("jbd2", 167936, 1, "ext4"), ("vfat", 20480, 1, None),
    ("fat", 86016, 1, "vfat"), ("hid_generic", 16384, 0, None), ("usbhid", 65536, 0, None),
    ("hid", 159744, 2, "usbhid,hid_generic"), ("crc32_pclmul", 16384, 0, None),
    ("crc32c_intel", 24576, 5, None), ("ghash_clmulni_intel", 16384, 0, None),
    ("sha512_ssse3", 49152, 0, None), ("aesni_intel", 393216, 0, None),
    ("crypto_simd", 16384, 1, "aesni_intel"), ("cryptd", 28672, 2, "crypto_simd"),
    ("ast", 65536, 0, None), ("drm_shmem_helper", 20480, 1, "ast"),
    ("drm_kms_helper", 212992, 1, "ast"), ("nvme", 53248, 3, None),
    ("nvme_core", 167936, 4, "nvme"), ("xhci_pci", 24576, 0, None),
    ("xhci_hcd", 311296, 1, "xhci_pci"), ("t10_pi", 16384, 2, "nvme_core"),
    ("i2c_i801", 36864, 0, None), ("drm", 614400, 4, "drm_kms_helper,drm_shmem_helper,ast"),
    ("ahci", 45056, 0, None), ("libahci", 45056, 1, "ahci"), ("libata", 401408, 2,
                                                                "ahci,libahci"),
    ("usbcore", 331776, 4, "xhci_hcd,usbhid,xhci_pci"), ("scsi_mod", 270336, 3,
                                                           "sg,libata,dm_multipath"),
    ("wmi", 36864, 0, None), ("button", 24576, 0, None),
]
_NVIDIA = [("nvidia_uvm", 1437696, 2, None, "POE"), ("nvidia_drm", 77824, 4, None, "POE"),
           ("nvidia_modeset", 1212416, 8, "nvidia_drm", "POE"),
           ("nvidia", 56451072, 108, "nvidia_uvm,nvidia_modeset", "POE"),
           ("nvidia_peermem", 16384, 0, None, "POE")]


def modules_for(role: Role) -> list[Module]:
    """The same Module objects for every host of a kind: identical snapshots."""
    mods = [Module(name=n, size_bytes=s, use_count=c, used_by=u, state="Live", address=None,
                   taint=None, version=None) for n, s, c, u in _MODULES]
    if role.gpus:
        mods = [Module(name=n, size_bytes=s, use_count=c, used_by=u, state="Live",
                       address=None, taint=t, version=None)
                for n, s, c, u, t in _NVIDIA] + mods
    return mods


class Proc:
    """One process's state between polls."""

    __slots__ = ("args", "comm", "cpu", "end", "pid", "ppid", "rate", "rss", "rss_walk",
                 "start", "state", "uid", "user", "vsz")

    def __init__(self, pid: int, ppid: int, uid: int, user: str, state: str, rss: int,
                 vsz: int, start: int, comm: str, args: str, rate: float = 0.0,
                 rss_walk: int = 0, end: int | None = None, cpu: float = 0.0) -> None:
        self.pid, self.ppid, self.uid, self.user, self.state = pid, ppid, uid, user, state
        self.rss, self.vsz, self.start, self.comm, self.args = rss, vsz, start, comm, args
        self.rate, self.rss_walk, self.end, self.cpu = rate, rss_walk, end, cpu


_DAEMONS = [  # user, uid, state, rss KiB, vsz KiB, cpu s/s, comm, args
    ("root", 0, "Ss", 13056, 168752, 0.0004, "systemd", "/sbin/init"),
    ("root", 0, "Ss", 61440, 90112, 0.0002, "systemd-journal", "/lib/systemd/systemd-journald"),
    ("root", 0, "Ss", 7168, 26172, 0.00005, "systemd-udevd", "/lib/systemd/systemd-udevd"),
    ("root", 0, "Ss", 7680, 17264, 0.00002, "systemd-logind", "/lib/systemd/systemd-logind"),
    ("systemd-timesync", 997, "Ssl", 6912, 90400, 0.00001, "systemd-timesyn",
     "/lib/systemd/systemd-timesyncd"),
    ("messagebus", 101, "Ss", 5120, 9536, 0.00002, "dbus-daemon",
     "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile "
     "--systemd-activation --syslog-only"),
    ("root", 0, "Ssl", 4608, 222220, 0.00003, "rsyslogd", "/usr/sbin/rsyslogd -n -iNONE"),
    ("root", 0, "Ss", 2816, 6612, 0.000005, "cron", "/usr/sbin/cron -f"),
    ("root", 0, "Ss", 9216, 15432, 0.00003, "sshd",
     "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
    ("_chrony", 106, "S", 3456, 18912, 0.00001, "chronyd", "/usr/sbin/chronyd -F 1"),
    ("_chrony", 106, "S", 1024, 10596, 0.0, "chronyd", "/usr/sbin/chronyd -F 1"),
    ("munge", 114, "Sl", 3072, 71236, 0.00004, "munged", "/usr/sbin/munged"),
    ("root", 0, "Ss", 10240, 300412, 0.0003, "slurmd", "/usr/sbin/slurmd -D -s"),
    ("root", 0, "Ss", 6400, 237964, 0.00002, "polkitd", "/usr/lib/polkit-1/polkitd --no-debug"),
    ("root", 0, "Ss+", 1920, 5876, 0.0, "agetty", "/sbin/agetty -o -p -- \\u --noclear - linux"),
    ("root", 0, "Ss", 2048, 5884, 0.0, "agetty",
     "/sbin/agetty -o -p -- \\u --keep-baud 115200,57600,38400,9600 - vt220"),
    ("_lldpd", 109, "S", 4352, 21484, 0.00002, "lldpd", "lldpd: monitor."),
    ("_lldpd", 109, "S", 3584, 21620, 0.00003, "lldpd", "lldpd: no neighbor."),
    ("_rpc", 107, "Ss", 3712, 7940, 0.000005, "rpcbind", "/sbin/rpcbind -f -w"),
    ("statd", 108, "Ss", 2560, 4664, 0.0, "rpc.statd", "/sbin/rpc.statd"),
    ("root", 0, "Ss", 2048, 5564, 0.0, "rpc.idmapd", "/usr/sbin/rpc.idmapd"),
    ("root", 0, "Ssl", 27648, 289316, 0.00002, "multipathd", "/sbin/multipathd -d -s"),
    ("root", 0, "Ss", 4608, 84052, 0.0002, "irqbalance", "/usr/sbin/irqbalance --foreground"),
    ("root", 0, "Ss", 5760, 12716, 0.000001, "smartd", "/usr/sbin/smartd -n"),
    ("root", 0, "Ssl", 19456, 1253108, 0.0001, "containerd", "/usr/bin/containerd"),
    ("root", 0, "Ss", 11264, 37176, 0.00001, "systemd-resolve",
     "/lib/systemd/systemd-resolved"),
    ("root", 0, "Ss", 2048, 2736, 0.0, "atd", "/usr/sbin/atd -f"),
    ("root", 0, "Ssl", 57344, 1341548, 0.0005, "puppet", "/opt/puppetlabs/puppet/bin/ruby "
     "/opt/puppetlabs/puppet/bin/puppet agent --no-daemonize"),
    ("root", 0, "S<Lsl", 46080, 478748, 0.0001, "lnet_discovery", "/usr/sbin/lctl_monitor"),
    ("root", 0, "Ss", 1408, 2504, 0.0, "mdadm", "/sbin/mdadm --monitor --scan"),
]
_KERNEL_MISC = ["kthreadd", "pool_workqueue_release", "kworker/R-rcu_g", "kworker/R-rcu_p",
                "kworker/R-slub_", "kworker/R-netns", "kworker/R-mm_pe", "rcu_tasks_kthre",
                "rcu_tasks_rude_", "rcu_tasks_trace", "rcu_sched", "rcu_exp_par_gp_k",
                "rcu_exp_gp_kthr", "kdevtmpfs", "kworker/R-inet_", "kauditd", "khungtaskd",
                "oom_reaper", "kworker/R-write", "kcompactd0", "kcompactd1", "ksmd",
                "khugepaged", "kworker/R-kinte", "kworker/R-kbloc", "kworker/R-blkcg",
                "kswapd0", "kswapd1", "ecryptfs-kthrea", "kworker/R-kthro", "irq/24-pciehp",
                "kworker/R-nvme-", "kworker/R-nvme-", "kworker/R-nvme-", "jbd2/nvme0n1p2-",
                "kworker/R-ext4-", "jbd2/nvme0n1p3-", "kworker/R-ib-co", "kworker/R-ipoib",
                "kworker/R-mlx5_", "ptlrpcd_00_00", "ptlrpcd_00_01", "ptlrpcd_01_00",
                "ptlrpcd_01_01", "ptlrpcd_rcv", "ldlm_bl_01", "ldlm_bl_02", "ldlm_cb00_001",
                "ldlm_cb01_001", "ll_ping", "ll_sa_1", "kiblnd_sd_00_00", "kiblnd_sd_01_00",
                "kiblnd_connd", "lnet_discovery", "monitor_thread", "rpciod", "nfsiod"]
_WQ = ["events", "events_unbound", "mm_percpu_wq", "events_power_efficient", "kblockd",
       "ib-comp-wq", "flush-259:0", "writeback"]
_SHORT = [  # short-lived: user, uid, comm, args
    ("root", 0, "sh", "/bin/sh -c /usr/lib/sysstat/debian-sa1 1 1"),
    ("root", 0, "sleep", "sleep 60"),
    ("root", 0, "logrotate", "/usr/sbin/logrotate /etc/logrotate.conf"),
    ("root", 0, "slurmstepd", "slurmstepd: [extern]"),
    ("root", 0, "run-parts", "run-parts --report /etc/cron.hourly"),
    ("root", 0, "lctl", "lctl get_param -n osc.*.stats"),
]
_SHELL = ["-bash", "vim job.sbatch", "squeue -u {u}", "less slurm-{j}.out", "git status",
          "python3", "ssh {h}", "tail -f slurm-{j}.out", "top", "ls --color=auto -l",
          "sbatch run.sh", "module load gcc/13.2", "htop", "make -j8", "rsync -av data/ {h}:"]
_USERS = [("alice", 10001), ("bob", 10002), ("carol", 10003), ("dmitri", 10004),
          ("erin", 10005), ("farid", 10006), ("grace", 10007), ("hiro", 10008)]


def _kib_round(v: float) -> int:
    return max(0, int(v) // 4 * 4)


class SimHost:
    """One host's state: counters, gauges, processes, boots and jobs."""

    def __init__(self, index: int, role_name: str, start: int, seed: int, fleet: Fleet) -> None:
        self.index = index
        self.name = f"{role_name[:3]}{index:03d}" if role_name != "compute" else f"cn{index:03d}"
        self.role_name = role_name
        self.role = ROLES[role_name]
        self.fleet = fleet
        self.rnd = random.Random(seed * 1000003 + index)
        self.host = Host(name=self.name, address=f"10.1.{index // 250}.{index % 250 + 1}",
                         groups=(role_name, "cluster"))
        self.offset = self.rnd.randrange(0, 25)   # where in the round this host is polled
        self.modules = modules_for(self.role)
        self.down_until = 0
        self.job_until = start + int(self.rnd.expovariate(1 / 14400))
        self.busy = self.rnd.random() < 0.7
        self.util, self.job_net = self.rnd.uniform(0.002, 0.02), 2000.0
        self.job_pids: list[int] = []
        self.job_id = 400000 + index * 1000
        self.next_pid = 0
        self.last_ts = start - 300
        self.boot(start - self.rnd.randrange(2 * 86400, 60 * 86400))

    # -- boot: everything goes back to zero ------------------------------------------------
    def boot(self, when: int) -> None:
        r, role = self.rnd, self.role
        self.boot_ts = when
        self.next_pid = 2
        # counters in their raw units: ticks, bytes, sectors ...
        self.cpu_ticks = dict.fromkeys(("user", "nice", "system", "idle", "iowait", "irq",
                                        "softirq", "steal"), 0)
        self.loads = [0.0, 0.0, 0.0]
        self.ifaces: dict[str, list[int]] = {}
        names = ["lo", "eno1", "eno2", "ib0"] + (["docker0"] if self.role_name == "login" else [])
        for n in names:
            self.ifaces[n] = [0] * 10
        self.disks: dict[str, list[int]] = {n: [0] * 16 for n in
                                            ("loop0", "loop1", "loop2", "loop3", "nvme0n1",
                                             "nvme0n1p1", "nvme0n1p2", "nvme0n1p3")}
        self.buffers = _kib_round(r.uniform(0.001, 0.003) * role.mem_kib)
        self.cached = _kib_round(r.uniform(0.01, 0.05) * role.mem_kib)
        self.base_used = _kib_round(2.5 * GIB_KIB + r.uniform(0, 0.5) * GIB_KIB)
        self.job_mem = 0
        self.swap_used = 0 if role.swap_kib == 0 else _kib_round(r.uniform(0, 0.02)
                                                                 * role.swap_kib)
        self.root_used = _kib_round(r.uniform(22, 31) * GIB_KIB)
        self.root_inodes = r.randrange(300_000, 420_000)
        self.tmp_used = _kib_round(r.uniform(0.1, 2) * GIB_KIB)
        self.shm_used = 0
        self.run_used = r.randrange(1800, 2600) * 4
        self.gpu_ecc = [0] * role.gpus
        self.procs: dict[int, Proc] = {}
        self._boot_processes(when)
        if self.busy:
            self._start_job(when)

    def _pid(self) -> int:
        self.next_pid += self.rnd.randint(1, 12)
        if self.next_pid >= PID_MAX:
            self.next_pid = 300
        return self.next_pid

    def _add(self, p: Proc) -> None:
        self.procs[p.pid] = p

    def _boot_processes(self, when: int) -> None:
        r = self.rnd
        self._add(Proc(1, 0, 0, "root", "Ss", 13056, 168752, when, "systemd", "/sbin/init",
                       rate=0.0004))
        self.next_pid = 1
        self._add(Proc(self._pid(), 0, 0, "root", "S", 0, 0, when, "kthreadd", "[kthreadd]"))
        ncpus = min(self.role.ncpu, 26)
        for c in range(ncpus):
            for comm, st, rate in ((f"cpuhp/{c}", "S", 0.0), (f"migration/{c}", "S", 0.00002),
                                   (f"ksoftirqd/{c}", "S", 0.0001),
                                   (f"kworker/{c}:0H-events_highpri", "I<", 0.0),
                                   (f"kworker/{c}:1-{r.choice(_WQ)}", "I", 0.00005)):
                self._add(Proc(self._pid(), 2, 0, "root", st, 0, 0, when, comm[:15],
                               f"[{comm}]", rate=rate))
        for comm in _KERNEL_MISC:
            self._add(Proc(self._pid(), 2, 0, "root", "I<" if "/R-" in comm else "S", 0, 0,
                           when, comm[:15], f"[{comm}]", rate=0.00001 * r.random()))
        self.sshd_pid = 1
        for user, uid, st, rss, vsz, rate, comm, args in _DAEMONS[1:]:
            pid = self._pid()
            self.sshd_pid = pid if comm == "sshd" else self.sshd_pid
            self._add(Proc(pid, 1, uid, user, st, rss + r.randrange(0, 64) * 4, vsz,
                           when + r.randrange(2, 40), comm, args, rate=rate,
                           rss_walk=64 if rate > 0.0001 else 0))
        if self.role.gpus:
            self._add(Proc(self._pid(), 1, 998, "nvidia-persistenced", "Ss", 2048, 5440,
                           when + 20, "nvidia-persiste",
                           "/usr/bin/nvidia-persistenced --user nvidia-persistenced "
                           "--no-persistence-mode --verbose", rate=0.0002))
            for g in range(self.role.gpus):
                self._add(Proc(self._pid(), 2, 0, "root", "S", 0, 0, when + 20,
                               f"irq/{180 + g}-nvidia", f"[irq/{180 + g}-nvidia]", rate=0.0003))
        if self.role_name == "login":
            for user, uid in _USERS:
                self._add(Proc(self._pid(), 1, uid, user, "Ss", 10240, 18900, when + 600,
                               "systemd", "/lib/systemd/systemd --user", rate=0.00001))
                self._add(Proc(self._pid(), self.next_pid - 1, uid, user, "S", 5120, 170500,
                               when + 600, "(sd-pam)", "(sd-pam)"))
        # Pids go on from well above the boot-time ones, as on a real system.
        self.next_pid += r.randrange(500, 3000)

    # -- jobs --------------------------------------------------------------------------------
    def _start_job(self, now: int) -> None:
        r, role = self.rnd, self.role
        self.busy = True
        self.job_id += r.randint(1, 40)
        self.util = r.uniform(0.8, 0.99)
        self.job_net = r.uniform(5e6, 2e8) * (4 if role.gpus else 1)
        self.job_mem = _kib_round(r.uniform(0.15, 0.7) * role.mem_kib)
        self.job_until = now + int(r.expovariate(1 / 21600)) + 600
        user, uid = r.choice(_USERS)
        self.job_pids = []
        if role.job_ranks == 0:  # login nodes run no batch jobs, only shells
            return
        exp = r.randrange(1, 400)
        p = Proc(self._pid(), 1, 0, "root", "Sl", 8192, 387000, now, "slurmstepd",
                 f"slurmstepd: [{self.job_id}.batch]", rate=0.001)
        self._add(p)
        self.job_pids.append(p.pid)
        q = Proc(self._pid(), p.pid, uid, user, "S", 3584, 8900, now, "slurm_script",
                 f"/bin/bash /var/spool/slurmd/job{self.job_id}/slurm_script")
        self._add(q)
        self.job_pids.append(q.pid)
        s = Proc(self._pid(), q.pid, uid, user, "Sl", 10240, 1_280_000, now, "srun",
                 f"srun --mpi=pmix python train.py --config configs/exp{exp}.yaml", rate=0.0005)
        self._add(s)
        self.job_pids.append(s.pid)
        per_rank = role.ncpu * self.util / role.job_ranks
        rank_mem = self.job_mem // role.job_ranks
        for k in range(role.job_ranks):
            rk = Proc(self._pid(), s.pid, uid, user, "Rl", _kib_round(rank_mem), rank_mem * 3,
                      now + 2, "python",
                      f"/home/{user}/.venv/bin/python train.py --config configs/exp{exp}.yaml "
                      f"--local-rank {k} --seed {exp * 7 + k}",
                      rate=per_rank, rss_walk=max(4, rank_mem // 2000))
            self._add(rk)
            self.job_pids.append(rk.pid)

    def _end_job(self, now: int) -> None:
        self.busy = False
        for pid in self.job_pids:
            self.procs.pop(pid, None)
        self.job_pids = []
        self.job_mem = 0
        self.util = self.rnd.uniform(0.002, 0.02)
        self.job_net = 2000.0
        self.job_until = now + int(self.rnd.expovariate(1 / 5400)) + 300

    # -- one poll ------------------------------------------------------------------------------
    def poll(self, round_ts: int) -> HostResult | None:
        """This host's result for one round (None: the host is down, nothing comes back)."""
        r = self.rnd
        now = round_ts + self.offset + r.randrange(0, 2)
        when = dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)
        if now < self.down_until:
            return HostResult(self.host, "unreachable", "connect: No route to host",
                              collected_at=when, connect_s=10.0)
        if r.random() < 1 / (21 * 288):  # about one reboot per host every three weeks
            self.down_until = now + r.randrange(300, 900)
            self.boot(now + r.randrange(120, 400))
            return HostResult(self.host, "unreachable", "connect: Connection refused",
                              collected_at=when, connect_s=0.002)
        if now >= self.job_until:
            if self.busy:
                self._end_job(now)
            else:
                self._start_job(now)
        step = max(1, now - self.last_ts)
        self.last_ts = now
        probes = {
            "cpu": [self._cpu(step)],
            "memory": [self._memory()],
            "network": self._network(step),
            "disk_io": self._disks(step),
            "filesystems": self._filesystems(),
            "temperatures": self._temperatures(),
            "system": [self._system(now)],
            "modules": self.modules,
            "processes": self._processes(now, step),
        }
        results = {n: ProbeResult(n, "ok", None, recs) for n, recs in probes.items()}
        if self.role.gpus:
            results["gpu"] = ProbeResult("gpu", "ok", None, self._gpus())
        else:
            results["gpu"] = ProbeResult("gpu", "unavailable", "nvidia-smi: not found")
        return HostResult(self.host, "ok", None, collected_at=when, os=OS.LINUX,
                          uname=f"Linux {self.name} 6.1.0-28-amd64 x86_64",
                          connect_s=round(r.uniform(0.05, 0.4), 3),
                          command_s=round(r.uniform(0.2, 0.9), 3),
                          bytes_read=r.randrange(60000, 90000), host_key="SHA256:" + self.name,
                          probes=results)

    def _cpu(self, step: int) -> Cpu:
        r, ncpu, t = self.rnd, self.role.ncpu, self.cpu_ticks
        total = ncpu * step * 100
        util = min(1.0, max(0.0, self.util + r.gauss(0, 0.02 if self.busy else 0.003)))
        user = int(total * util * 0.93)
        system = int(total * util * 0.05) + int(total * 0.002 * r.random())
        iowait = int(total * 0.0005 * r.random())
        softirq = int(total * (0.001 + 0.002 * util) * r.random())
        irq = int(total * 0.0002 * r.random())
        nice = int(total * 0.001) if r.random() < 0.01 else 0
        t["user"] += user
        t["system"] += system
        t["iowait"] += iowait
        t["softirq"] += softirq
        t["irq"] += irq
        t["nice"] += nice
        t["idle"] += max(0, total - user - system - iowait - softirq - irq - nice)
        inst = ncpu * util + r.gauss(0, 0.3 + 0.02 * ncpu * util)
        inst = max(0.0, inst)
        a1, a5, a15 = (math.exp(-step / 60), math.exp(-step / 300), math.exp(-step / 900))
        self.loads = [self.loads[0] * a1 + inst * (1 - a1), self.loads[1] * a5 + inst * (1 - a5),
                      self.loads[2] * a15 + inst * (1 - a15)]
        return Cpu(ncpu=ncpu, load_1m=round(self.loads[0], 2), load_5m=round(self.loads[1], 2),
                   load_15m=round(self.loads[2], 2),
                   **{f"{k}_seconds": round(v / 100, 2) for k, v in t.items()},
                   spin_seconds=None)

    def _memory(self) -> Memory:
        r, role = self.rnd, self.role
        self.buffers = _kib_round(min(role.mem_kib * 0.004, max(role.mem_kib * 0.0005,
                                                                 self.buffers + r.gauss(0, 200))))
        grow = r.gauss(3000, 20000) + (self.job_mem * 0.0005 if self.busy else 0)
        self.cached = _kib_round(min(role.mem_kib * 0.3, max(role.mem_kib * 0.005,
                                                             self.cached + grow)))
        job = _kib_round(self.job_mem * (1 + r.gauss(0, 0.01))) if self.job_mem else 0
        used_raw = self.base_used + _kib_round(r.gauss(0, 2048)) + job
        free = max(0, role.mem_kib - used_raw - self.buffers - self.cached)
        avail = min(role.mem_kib, free + int(self.cached * 0.9) + self.buffers)
        if role.swap_kib and r.random() < 0.02:
            self.swap_used = _kib_round(min(role.swap_kib, max(0, self.swap_used
                                                               + r.gauss(0, 4096))))
        k = KIB
        return Memory(total_bytes=role.mem_kib * k, available_bytes=avail * k,
                      used_bytes=(role.mem_kib - avail) * k, free_bytes=free * k,
                      buffers_bytes=self.buffers * k, cached_bytes=self.cached * k,
                      active_bytes=_kib_round(job + self.cached * 0.35 + self.base_used * 0.5) * k,
                      inactive_bytes=_kib_round(self.cached * 0.6 + self.base_used * 0.3) * k,
                      wired_bytes=None, swap_total_bytes=role.swap_kib * k,
                      swap_used_bytes=self.swap_used * k)

    def _network(self, step: int) -> list[Interface]:
        r = self.rnd
        rates = {"lo": (1500.0, 1500.0, 400), "eno1": (18000.0, 12000.0, 700),
                 "ib0": (self.job_net, self.job_net * 0.9, 4000)}
        out = []
        for name, c in self.ifaces.items():
            if name in rates:
                rx, tx, size = rates[name]
                rxb = int(rx * step * r.lognormvariate(0, 0.35))
                txb = rxb if name == "lo" else int(tx * step * r.lognormvariate(0, 0.35))
                c[0] += rxb
                c[1] += rxb // size + 1
                c[5] += txb
                c[6] += txb // size + 1
                if name == "eno1":
                    if r.random() < 0.02:
                        c[3] += r.randint(1, 4)          # rx_dropped: the odd burst
                    c[4] += int(step * 0.08 * r.random())  # multicast: LLDP, mDNS
                if name == "ib0" and r.random() < 0.001:
                    c[2] += 1                             # the rare rx error
            up = name not in ("eno2", "docker0")
            out.append(Interface(interface=name, up=up, rx_bytes=c[0], rx_packets=c[1],
                                 rx_errors=c[2], rx_dropped=c[3], rx_multicast=c[4],
                                 tx_bytes=c[5], tx_packets=c[6], tx_errors=c[7],
                                 tx_dropped=c[8], collisions=c[9]))
        return out

    def _disks(self, step: int) -> list[DiskIo]:
        r = self.rnd
        busy = self.busy
        parts = {"nvme0n1p1": (0.0, 0.0), "nvme0n1p2": (0.5, 25.0),
                 "nvme0n1p3": (40.0 if busy else 0.2, 60.0 if busy else 0.5)}
        whole = self.disks["nvme0n1"]
        out = []
        for name, c in self.disks.items():
            if name in parts:
                rd, wr = parts[name]
                reads = int(rd * step * r.lognormvariate(0, 0.5))
                writes = int(wr * step * r.lognormvariate(0, 0.5))
                rsec = reads * r.choice((8, 16, 32, 256))
                wsec = writes * r.choice((8, 8, 16, 64))
                rmerge, wmerge = reads // 10, writes // 3
                rt, wt = int(reads * 0.08), int(writes * 0.03)
                flushes = writes // 40
                busy_ms = min(step * 1000, rt + wt + int(r.random() * 5))
                deltas = [reads, rmerge, rsec * 512, rt, writes, wmerge, wsec * 512, wt,
                          busy_ms, rt + wt + flushes, 0, 0, 0, 0, flushes, flushes // 2]
                if name == "nvme0n1p2" and r.random() < 1 / 2016:  # weekly fstrim
                    n = r.randrange(200, 2000)
                    deltas[10:14] = [n, 0, n * r.randrange(2048, 65536) * 512, n // 4]
                for i, d in enumerate(deltas):
                    c[i] += d
                    whole[i] += d
        for name, c in self.disks.items():
            in_flight = r.choice((0, 0, 0, 1, 2)) if name == "nvme0n1" and busy else 0
            out.append(DiskIo(
                device=name, reads_completed=c[0], reads_merged=c[1], read_bytes=c[2],
                read_time_ms=c[3], writes_completed=c[4], writes_merged=c[5],
                written_bytes=c[6], write_time_ms=c[7], in_flight=in_flight, io_time_ms=c[8],
                weighted_io_time_ms=c[9], discards_completed=c[10], discards_merged=c[11],
                discarded_bytes=c[12], discard_time_ms=c[13], flushes_completed=c[14],
                flush_time_ms=c[15]))
        return out

    def _filesystems(self) -> list[Filesystem]:
        r, role, f = self.rnd, self.role, self.fleet
        self.root_used = _kib_round(self.root_used + r.gauss(40, 200)) if r.random() < 0.5 \
            else self.root_used
        if r.random() < 0.2:
            self.root_inodes += r.randint(-3, 5)
        if self.busy:
            self.tmp_used = _kib_round(min(3000 * GIB_KIB, self.tmp_used + r.uniform(0, 1e6)))
        elif self.tmp_used > GIB_KIB and r.random() < 0.05:
            self.tmp_used = _kib_round(r.uniform(0.1, 1) * GIB_KIB)
        if r.random() < 0.1:
            self.run_used = max(1024, self.run_used + r.choice((-4, 4, 8, -8)))

        def fs(mount: str, device: str, fstype: str, size: int, used: int, reserve: float,
               inodes: tuple[int, int] | None) -> Filesystem:
            avail = max(0, int(size * (1 - reserve)) - used)
            pct = float(math.ceil(used * 100 / (used + avail))) if used + avail else 0.0
            it, iu = inodes or (0, 0)
            return Filesystem(mount=mount, device=device, fstype=fstype, size_bytes=size * KIB,
                              used_bytes=used * KIB, avail_bytes=avail * KIB, used_pct=pct,
                              inodes_total=it, inodes_used=iu, inodes_free=it - iu)

        shm = role.mem_kib // 2
        return [
            fs("/", "/dev/nvme0n1p2", "ext4", 102_626_232, self.root_used, 0.05,
               (6_553_600, self.root_inodes)),
            fs("/boot/efi", "/dev/nvme0n1p1", "vfat", 523_248, 6_152, 0.0, None),
            fs("/tmp", "/dev/nvme0n1p3", "ext4", 3_665_002_980, self.tmp_used, 0.05,
               (228_818_944, 14 + self.tmp_used // 2_000_000)),
            fs("/dev/shm", "tmpfs", "tmpfs", shm, self.shm_used, 0.0, (shm // 4, 1)),
            fs("/run", "tmpfs", "tmpfs", role.mem_kib // 10, self.run_used, 0.0,
               (role.mem_kib // 40, 1100 + self.run_used // 64)),
            fs("/home", "nas01:/export/home", "nfs4", 214_748_364_800, f.home_used, 0.0,
               (6_710_886_400, f.home_inodes)),
            fs("/scratch", "10.0.0.5@o2ib:10.0.0.6@o2ib:/scratch", "lustre", 2_199_023_255_552,
               f.scratch_used, 0.0, (4_294_967_296, f.scratch_inodes)),
        ]

    def _temperatures(self) -> list[Temperature]:
        r = self.rnd
        base = 38 + 30 * self.util
        out = []
        cores = max(1, self.role.ncpu // 4)
        for sock in range(2):
            chip = f"coretemp-isa-{sock:04d}"
            out.append(Temperature(chip=chip, sensor=f"Package id {sock}",
                                   celsius=float(round(base + 4 + r.gauss(0, 1))),
                                   high_celsius=80.0, crit_celsius=100.0))
            for c in range(cores):
                out.append(Temperature(chip=chip, sensor=f"Core {c}",
                                       celsius=float(round(base + (c % 5) + r.gauss(0, 1.2))),
                                       high_celsius=80.0, crit_celsius=100.0))
        nv = 36 + 12 * self.util + r.gauss(0, 0.6)
        out += [Temperature(chip="nvme-pci-0100", sensor="Composite", celsius=round(nv) + 0.85,
                            high_celsius=81.85, crit_celsius=84.85),
                Temperature(chip="nvme-pci-0100", sensor="Sensor 1", celsius=round(nv) + 0.85,
                            high_celsius=65261.85, crit_celsius=None),
                Temperature(chip="nvme-pci-0100", sensor="Sensor 2",
                            celsius=round(nv + 6) + 0.85, high_celsius=65261.85,
                            crit_celsius=None),
                Temperature(chip="acpitz-acpi-0", sensor="temp1", celsius=27.8,
                            high_celsius=None, crit_celsius=119.0)]
        return out

    def _gpus(self) -> list[Gpu]:
        r = self.rnd
        out = []
        for g in range(self.role.gpus):
            busy = self.busy
            util = min(100, max(0, round(r.gauss(96, 3)))) if busy else 0
            mem = (r.randrange(60_000, 78_000) if busy else 4) * 1_048_576
            if r.random() < 0.0002:
                self.gpu_ecc[g] += 1
            out.append(Gpu(
                index=g, uuid=f"GPU-{self.index:04x}{g:04x}-6b3c-8d1e-4f2a-9c7b5e1d{g:04x}",
                name="NVIDIA H100 80GB HBM3", pci_bus_id=f"00000000:{0x18 + 0x11 * g:02X}:00.0",
                driver_version="550.54.15", pstate="P0" if busy else "P8", mig_enabled=False,
                utilization_pct=float(util),
                memory_utilization_pct=float(round(util * 0.45 + r.gauss(0, 2))) if busy else 0.0,
                memory_used_bytes=mem, memory_total_bytes=85_520_809_984,
                temperature_celsius=float(round(62 + r.gauss(0, 2) if busy
                                                else 31 + r.gauss(0, 1))),
                memory_temperature_celsius=float(round(70 + r.gauss(0, 2) if busy
                                                       else 34 + r.gauss(0, 1))),
                power_draw_watts=round(r.gauss(610, 40) if busy else r.gauss(71, 2), 2),
                power_limit_watts=700.0, fan_speed_pct=None,
                sm_clock_mhz=1980 if busy else 345, ecc_errors_uncorrected=self.gpu_ecc[g]))
        return out

    def _system(self, now: int) -> System:
        return System(os="linux", kernel_name="Linux", kernel_release="6.1.0-28-amd64",
                      kernel_version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
                      machine="x86_64", hostname=self.name, distro_id="debian",
                      distro_name="Debian GNU/Linux", distro_version="12",
                      boot_time=dt.datetime.fromtimestamp(self.boot_ts, dt.UTC).replace(
                          tzinfo=None),
                      uptime_seconds=round(now - self.boot_ts + self.rnd.random(), 2))

    def _processes(self, now: int, step: int) -> list[Process]:
        r, procs = self.rnd, self.procs
        # Churn among the kernel's unbound workers: a few exit, a few new ones start.
        if r.random() < 0.5:
            workers = [p for p in procs.values() if p.comm.startswith("kworker/u")]
            for p in workers[: r.randint(0, 2)]:
                del procs[p.pid]
            for _ in range(r.randint(0, 2)):
                comm = f"kworker/u{2 * self.role.ncpu}:{r.randint(0, 9)}-{r.choice(_WQ)}"
                self._add(Proc(self._pid(), 2, 0, "root", "I", 0, 0, now - r.randrange(0, 200),
                               comm[:15], f"[{comm}]", rate=0.0001))
        # Short-lived processes: only this poll sees them.
        short: list[Proc] = []
        sshd = Proc(self._pid(), self.sshd_pid, 0, "root", "Ss", 11264, 17628, now - 1, "sshd",
                    "sshd: onion [priv]")
        chain = [sshd]
        chain.append(Proc(self._pid(), sshd.pid, 1500, "onion", "S", 7040, 17888, now - 1,
                          "sshd", "sshd: onion@notty"))
        chain.append(Proc(self._pid(), chain[-1].pid, 1500, "onion", "Ss", 1664, 2592, now,
                          "sh", "sh -c 'LC_ALL=C; export LC_ALL; exec sh -s'"))
        chain.append(Proc(self._pid(), chain[-1].pid, 1500, "onion", "R", 4416, 8116, now,
                          "ps", "ps -eww -o pid,ppid,uid,user:32,stat,pcpu,pmem,rss,vsz,etime,"
                          "time,comm -o args=ARGS"))
        short += chain
        for _ in range(r.randint(0, 3)):
            user, uid, comm, args = r.choice(_SHORT)
            short.append(Proc(self._pid(), 1, uid, user, "S", r.randrange(500, 4000) * 4,
                              r.randrange(2000, 9000) * 4, now - r.randrange(0, 60), comm, args))
        for _ in range(self.role.shells and r.randint(self.role.shells // 2, self.role.shells)):
            user, uid = r.choice(_USERS)
            text = r.choice(_SHELL).format(u=user, j=self.job_id, h=f"cn{r.randrange(64):03d}")
            short.append(Proc(self._pid(), 1, uid, user, r.choice(("S+", "Ss", "R+", "S")),
                              r.randrange(800, 40000) * 4, r.randrange(2000, 90000) * 4,
                              now - r.randrange(0, 3600), text.split()[0].lstrip("-")[:15], text,
                              cpu=r.random() * 5))
        total = self.role.mem_kib
        out = []
        for p in (*procs.values(), *short):
            elapsed = max(0, now - p.start)
            if p.rate:
                p.cpu += p.rate * step * (0.7 + 0.6 * r.random())
            if p.rss_walk:
                p.rss = _kib_round(max(1024, p.rss + r.gauss(0, p.rss_walk)))
                if p.state in ("Rl", "Sl") and p.rate > 1:
                    p.state = "Rl" if r.random() < 0.8 else "Sl"
            cpu = int(p.cpu)
            out.append(Process(
                pid=p.pid, ppid=p.ppid, uid=p.uid, user=p.user, state=p.state,
                cpu_pct=round(cpu * 100 / elapsed, 1) if elapsed else 0.0,
                mem_pct=round(p.rss * 100 / total, 1), rss_bytes=p.rss * KIB,
                vsz_bytes=p.vsz * KIB, elapsed_seconds=elapsed, cpu_seconds=float(cpu),
                comm=p.comm, args=p.args))
        return out


class Fleet:
    """Every host, plus what they share (NFS and Lustre file systems)."""

    def __init__(self, hosts: int, start: int, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.home_used = 120_000_000_000
        self.home_inodes = 2_100_000_000
        self.scratch_used = 1_300_000_000_000
        self.scratch_inodes = 1_900_000_000
        roles = ["login" if i < max(1, hosts // 32) else "gpu" if i % 4 == 3 else "compute"
                 for i in range(hosts)]
        self.hosts = [SimHost(i, role, start, seed, self) for i, role in enumerate(roles)]

    def round(self, round_ts: int) -> Iterator[HostResult]:
        r = self.rnd
        self.home_used += int(r.gauss(2000, 20000)) // 4 * 4
        self.home_inodes += r.randint(-50, 80)
        self.scratch_used += int(r.gauss(30000, 300000)) // 4 * 4
        self.scratch_inodes += r.randint(-400, 600)
        for h in self.hosts:
            res = h.poll(round_ts)
            if res is not None:
                yield res
