#!/usr/bin/env bash
# Removes from a production node_modules what is never loaded at run time:
# build intermediates and sources of the native modules, the native builds of
# other platforms, type declarations, source maps, docs, tests and examples.
# What stays is what vigil requires, plus every license file.
#   packaging/prune-modules.sh NODE_MODULES ARCH
set -euo pipefail
modules=$1
arch=$2
[ -d "$modules/better-sqlite3" ] || { echo "prune-modules: $modules has no better-sqlite3" >&2; exit 1; }

# better-sqlite3 loads build/Release/better_sqlite3.node through `bindings`; the
# SQLite amalgamation, C++ sources and object files are build inputs.
sqlite="$modules/better-sqlite3"
find "$sqlite/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$sqlite/build/Release" -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
rm -rf "$sqlite/deps" "$sqlite/src" "$sqlite/binding.gyp"

# koffi ships glibc and musl builds (the packages target glibc systems), and the
# sources, vendored headers and build tool (cnoke) to compile itself.
find "$modules/@koromix" -mindepth 2 -maxdepth 2 -type d ! -name "linux_$arch" -exec rm -rf {} + 2>/dev/null || true
rm -rf "$modules/koffi/vendor" "$modules/koffi/lib" "$modules/koffi/doc" "$modules/koffi/cnoke.cjs" "$modules/koffi/src/koffi/src/abi" "$modules/koffi/src/koffi/CMakeLists.txt"
find "$modules/koffi/src" -type f \( -name '*.cc' -o -name '*.hh' -o -name '*.inc' -o -name '*.def' -o -name 'trampolines.cjs' \) -delete

# npm's own bookkeeping, and packages that hold only type declarations.
rm -rf "$modules/.bin" "$modules/.package-lock.json" "$modules/@types"

find "$modules" -depth -type d \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \
  -o -name docs -o -name benchmarks -o -name bench -o -name .github \) -exec rm -rf {} +
find "$modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.ts' \
  -o -name '*.md' -o -name '*.markdown' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' \
  -o -name '.editorconfig' -o -name '.prettierrc*' -o -name 'tsconfig*.json' -o -name '*.gyp' -o -name '*.gypi' \) \
  ! -iname 'license*' -delete
# Dot files are tool configuration (.eslintrc, .nycrc, .husky, nested .bin links).
find "$modules" -depth -name '.*' -exec rm -rf {} +
# Pages of a module's documentation site.
find "$modules" -type f -name '*.html' -delete

# Native modules keep only what loading them needs; they are libraries, not programs.
find "$modules" -type f -name '*.node' -exec strip --strip-unneeded {} + -exec chmod 0644 {} +
# Executable bits only on files that can be executed (scripts with #!).
find "$modules" -type f -perm /111 ! -name '*.node' -print0 | while IFS= read -r -d '' file; do
  [ "$(head -c 2 "$file")" = "#!" ] || chmod a-x "$file"
done
