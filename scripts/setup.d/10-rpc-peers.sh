# Real RPC peers for integration/ (dubbo-go in its own Go modules, SOFARPC and Java Dubbo through Maven).
# Sourced by scripts/setup.sh with ROOT, BIN, LOG, step and run defined.
jpkgs=()
for p in maven default-jdk-headless; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || jpkgs+=("$p")
done
if ((${#jpkgs[@]})); then
  step "apt-get install ${jpkgs[*]} (Java RPC peers)"
  run apt-get install -y -qq --no-install-recommends "${jpkgs[@]}"
fi
# Warm the module and Maven caches so the tests themselves do not download.
for mod in "$ROOT"/integration/testdata/*peers/*/go.mod; do
  [[ -e "$mod" ]] || continue
  step "go mod download ($(dirname "${mod#"$ROOT"/}"))"
  (cd "$(dirname "$mod")" && run go mod download)
done
for pom in "$ROOT"/integration/testdata/*peers/*/pom.xml; do
  [[ -e "$pom" ]] || continue
  step "mvn compile ($(dirname "${pom#"$ROOT"/}"))"
  (cd "$(dirname "$pom")" && run mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=/dev/null)
done
