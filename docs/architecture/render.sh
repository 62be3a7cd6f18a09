#!/usr/bin/env bash
# Render every *.puml in this folder to an .svg beside it:  bash docs/architecture/render.sh
#
# Debian 12's plantuml package (1.2020.2) bundles a C4-PlantUML too old for tags and dashed
# styles, so a pinned PlantUML jar is fetched once from Maven Central into the cache, outside
# git. Layout is Graphviz's dot (it places the event exchange between its publishers much better
# than PlantUML's built-in smetana engine); graphviz is installed only when dot is missing.
#
# Environment: ALEXANDRITE_PLANTUML_JAR  use this jar instead of the cached one
#              PLANTUML_VERSION          jar version to fetch (default below)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${PLANTUML_VERSION:-1.2025.4}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/alexandrite/plantuml"
jar="${ALEXANDRITE_PLANTUML_JAR:-$cache/plantuml-$version.jar}"

need() {
    # Install a Debian package only when its command is missing.
    local cmd="$1" pkg="$2" sudo=""
    command -v "$cmd" >/dev/null 2>&1 && return 0
    echo "render.sh: installing $pkg (for $cmd)" >&2
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # A fresh machine may have no package lists yet: update once, then retry.
    $sudo apt-get install -y --no-install-recommends "$pkg" >&2 \
        || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends "$pkg" >&2; }
}

need java default-jre-headless
need dot graphviz
if [ ! -s "$jar" ]; then
    need mvn maven
    echo "render.sh: fetching PlantUML $version into $cache" >&2
    mkdir -p "$cache"
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="net.sourceforge.plantuml:plantuml:$version" \
        -DoutputDirectory="$cache" >&2
fi

shopt -s nullglob
sources=("$here"/*.puml)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "render.sh: no .puml files in $here" >&2
    exit 1
fi

# One JVM for all files. -failfast2 stops on a syntax error with a non-zero exit; other failures
# (no Graphviz, a broken include) still exit 0 with the error drawn into the SVG, hence the grep.
java -Djava.awt.headless=true -jar "$jar" -charset UTF-8 -failfast2 -tsvg "${sources[@]}"
status=0
for src in "${sources[@]}"; do
    svg="${src%.puml}.svg"
    if [ ! -s "$svg" ]; then
        echo "render.sh: $svg was not written" >&2
        status=1
    elif grep -q -e 'Syntax Error' -e 'Cannot find Graphviz' -e 'Dot executable' \
            -e 'cannot include' -e 'An error has occured' "$svg"; then
        echo "render.sh: $svg shows a rendering error, open it to read it" >&2
        status=1
    else
        echo "rendered ${svg#"$PWD"/}"
    fi
done
exit "$status"
