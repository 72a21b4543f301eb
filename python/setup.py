"""Build the shmq Python package: the C extension shmq._shmq over libshmq.

The extension is compiled together with the library's own sources (../src), so the
installed package needs no libshmq.so at run time; it links liburcu and hwloc as libshmq
does. Build in place: pip install --no-build-isolation ./python (pip >= 21.3 builds in the
source tree, where ../src and ../include are).
"""
import glob
import os
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "liburcu-bp", "liburcu-cds", "hwloc"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("shmq: pkg-config could not find liburcu-bp, liburcu-cds and hwloc "
                         "(apt-get install liburcu-dev libhwloc-dev): %s" % e)
    return out.split()


lib_sources = sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))
if not lib_sources:
    raise SystemExit("shmq: the library sources (%s/src) are missing: build from the shmq "
                     "source tree" % ROOT)
sources = [os.path.relpath(p, HERE) for p in
           [os.path.join(HERE, "src", "_shmq.c")] + lib_sources]

# Headers: a change to any of them rebuilds every object (the build directory is reused).
depends = [os.path.relpath(p, HERE) for p in
           sorted(glob.glob(os.path.join(ROOT, "include", "*.h")) +
                  glob.glob(os.path.join(ROOT, "src", "*.h")))]

ext = Extension(
    "shmq._shmq",
    sources=sources,
    depends=depends,
    include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src")],
    define_macros=[("SHMQ_BUILDING", "1"), ("_GNU_SOURCE", "1")],
    extra_compile_args=["-std=gnu11", "-O2", "-fvisibility=hidden"]
    + [f for f in pkg_config("--cflags") if f.startswith("-I")],
    extra_link_args=pkg_config("--libs") + ["-pthread"],
)

setup(
    name="shmq",
    version="0.1.0",
    description="Brokerless lock-free message queues in POSIX shared memory",
    packages=["shmq"],
    package_data={"shmq": ["py.typed", "*.pyi"]},
    ext_modules=[ext],
    python_requires=">=3.9",
)
