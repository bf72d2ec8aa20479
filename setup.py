"""Build hook for the optional C accelerator (cbec.messages._fastleaves).

Everything else is in pyproject.toml.  The extension is optional: if Cython or a compiler is missing, the
install still succeeds and the codec uses its pure-Python walk.
"""

from __future__ import annotations

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure means: fall back to pure Python
            print(f"cbec: C accelerator not built ({exc}); using the pure-Python codec")

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # any build failure means: fall back to pure Python
            print(f"cbec: C accelerator {ext.name} not built ({exc}); using the pure-Python codec")


def extensions() -> list:  # type: ignore[type-arg]
    try:
        import lxml
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        return []
    ext = Extension(
        "cbec.messages._fastleaves",
        ["src/cbec/messages/_fastleaves.pyx"],
        include_dirs=lxml.get_include(),
        optional=True,
    )
    return cythonize([ext], quiet=True, compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
