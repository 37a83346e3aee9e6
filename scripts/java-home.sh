# Sourced by the scripts: finds a JDK >= 22 (the FFM API is final since 22) and exports JAVA_HOME and PATH for it.

# Prints the home of the first JDK >= 22 among $JAVA_HOME, Temurin 25 and /usr/lib/jvm/*; fails if there is none.
fovea_java_home() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    version=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$version" ] && [ "${version%%.*}" -ge 22 ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

fovea_use_java() {
  local home
  if ! home=$(fovea_java_home); then
    echo "No JDK >= 22 found (JAVA_HOME, /usr/lib/jvm): run scripts/setup.sh or set JAVA_HOME." >&2
    return 1
  fi
  export JAVA_HOME="$home"
  export PATH="$JAVA_HOME/bin:$PATH"
}
