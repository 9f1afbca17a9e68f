# shellcheck shell=bash
# Finds a JDK >= 21 and puts it first: exports JAVA_HOME and prepends $JAVA_HOME/bin to PATH.
#
# Sourced by bin/builderd and bin/test. The build itself does not need this (maven-toolchains-plugin
# finds a JDK >= 21 on its own, even when ./mvnw runs on the machine's default JDK 17), but running
# the daemon does: `java -jar` uses whatever `java` is first on PATH, and on Debian 12 that is 17.
#
# Order: JAVA_HOME if it is >= 21 (the user chose it), else `java` on PATH if >= 21, else the newest
# JDK >= 21 found in the directories of BUILDERD_JVM_DIRS (colon-separated; each child is a JDK
# home). The override exists so the "none found" path can be tested on a machine that has one.
# With no JDK >= 21 it prints what to install and exits 1 (it is sourced, so this ends the caller).
#
# Run directly (`bash bin/lib/jdk.sh`) it prints the JAVA_HOME it would choose.

BUILDERD_MIN_JAVA=21

# Prints the feature version (8, 17, 21, 25) of a version string such as 1.8.0_392, 17.0.15,
# 21-ea or 25; prints nothing when it is not one.
builderd_java_feature_of() {
  local v=$1
  v=${v#1.}          # pre-9 versions read 1.8 for Java 8
  v=${v%%[!0-9]*}    # the feature number is everything before the first non-digit
  [[ -n $v ]] && printf '%s\n' "$v"
  return 0
}

# Prints "FEATURE FULL_VERSION" for the JDK at home $1, or nothing if it is not a usable JDK.
# The `release` file is read first because starting a JVM for every candidate is slow; the JVM is
# asked only when the file is missing (some distribution layouts have none).
builderd_java_version_of_home() {
  local home=$1 full=""
  [[ -x $home/bin/java ]] || return 0
  if [[ -r $home/release ]]; then
    full=$(sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$home/release" | head -n 1)
  fi
  if [[ -z $full ]]; then
    full=$("$home/bin/java" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^[[:space:]]*java\.specification\.version = //p' | head -n 1) || true
  fi
  local feature
  feature=$(builderd_java_feature_of "$full")
  [[ -n $feature ]] && printf '%s %s\n' "$feature" "$full"
  return 0
}

# Prints "FEATURE HOME" for the `java` first on PATH, or nothing if there is none. The home comes
# from the JVM itself (java.home), since PATH may hold a symlink chain or a wrapper script.
builderd_java_on_path() {
  command -v java >/dev/null 2>&1 || return 0
  local settings spec home feature
  settings=$(java -XshowSettings:properties -version 2>&1) || return 0
  spec=$(sed -n 's/^[[:space:]]*java\.specification\.version = //p' <<<"$settings" | head -n 1)
  home=$(sed -n 's/^[[:space:]]*java\.home = //p' <<<"$settings" | head -n 1)
  feature=$(builderd_java_feature_of "$spec")
  [[ -n $feature && -n $home ]] && printf '%s %s\n' "$feature" "$home"
  return 0
}

# Prints the home of the newest JDK >= BUILDERD_MIN_JAVA under the scan directories, or nothing.
builderd_scan_jvm_dirs() {
  local dirs=${BUILDERD_JVM_DIRS-/usr/lib/jvm:/opt/java:${HOME:-/root}/.sdkman/candidates/java}
  local dir home version candidates=()
  local IFS=:
  for dir in $dirs; do
    [[ -d $dir ]] || continue
    for home in "$dir"/*; do
      version=$(builderd_java_version_of_home "$home")
      [[ -n $version ]] || continue
      if (( ${version%% *} >= BUILDERD_MIN_JAVA )); then
        candidates+=("${version} ${home}")
      fi
    done
  done
  (( ${#candidates[@]} > 0 )) || return 0
  # "FEATURE FULL HOME" lines: newest feature first, then newest update (25.0.3 over 25.0.1).
  printf '%s\n' "${candidates[@]}" | sort -k1,1nr -k2,2Vr | head -n 1 | cut -d' ' -f3-
}

builderd_find_jdk() {
  local chosen="" found version default_java="none on PATH"

  if [[ -n ${JAVA_HOME:-} ]]; then
    version=$(builderd_java_version_of_home "$JAVA_HOME")
    if [[ -n $version ]] && (( ${version%% *} >= BUILDERD_MIN_JAVA )); then
      chosen=$JAVA_HOME
    fi
  fi

  if [[ -z $chosen ]]; then
    found=$(builderd_java_on_path)
    if [[ -n $found ]]; then
      default_java="${found%% *} at ${found#* }"
      if (( ${found%% *} >= BUILDERD_MIN_JAVA )); then
        chosen=${found#* }
      fi
    fi
  fi

  if [[ -z $chosen ]]; then
    chosen=$(builderd_scan_jvm_dirs)
  fi

  if [[ -z $chosen ]]; then
    {
      echo "Builderd Storage needs a JDK ${BUILDERD_MIN_JAVA} or newer; found none (default java is ${default_java}${JAVA_HOME:+; JAVA_HOME=$JAVA_HOME is older or not a JDK})."
      echo "Install one, e.g. \`apt-get install openjdk-21-jdk\` (Debian 13, Ubuntu 24.04; Debian 12 ships only 17) or Temurin 21+, or set JAVA_HOME."
    } >&2
    exit 1
  fi

  export JAVA_HOME=$chosen
  PATH="$JAVA_HOME/bin:$PATH"
  export PATH
}

builderd_find_jdk

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  printf '%s\n' "$JAVA_HOME"
fi
