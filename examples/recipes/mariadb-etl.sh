#!/usr/bin/env bash
# Recipe: a MariaDB table through shmq workers and back into MariaDB.
#
#   mariadb-etl.sh [SHMQ] [ROWS]
#
# Starts a private MariaDB server (its own datadir and socket, no network), fills a table with
# ROWS rows (default 20000) holding tabs, newlines, UTF-8 and NULLs, exports it with `mysql -B`
# (one tab-separated line per row, special characters escaped), pushes the lines into a queue,
# transforms them with `shmq work --batch` workers running awk (name upper-cased, amount
# doubled), and imports the result with LOAD DATA LOCAL INFILE into a second table. Then it
# compares the row count and a checksum of every row with what SQL computes from the source,
# and stops the server. Exit 0 when they match.
set -euo pipefail
SHMQ=${1:-shmq}
ROWS=${2:-20000}
work=$(mktemp -d)
q="${SHMQ_RECIPE_PREFIX:-recipe}-etl-$$"
server=
cleanup() {
    "$SHMQ" rm -f "$q" 2> /dev/null || true
    if [[ -n $server ]]; then
        kill "$server" 2> /dev/null || true
        wait "$server" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. A private server: nothing it does touches the machine's own MariaDB.
mariadb-install-db --no-defaults --datadir="$work/data" --auth-root-authentication-method=normal \
    --skip-test-db > "$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }
mariadbd --no-defaults --datadir="$work/data" --socket="$work/sock" --skip-networking \
    --pid-file="$work/pid" --user="$(id -un)" --log-error="$work/server.log" &
server=$!
sql() { mariadb --no-defaults -S "$work/sock" -u root "$@"; }
for ((i = 0; i < 300; i++)); do
    sql -e 'SELECT 1' > /dev/null 2>&1 && break
    kill -0 "$server" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
sql -e 'SELECT 1' > /dev/null

# 2. The source table: tabs, newlines, backslashes, UTF-8 and NULLs in the data.
sql <<SQL
CREATE DATABASE etl CHARACTER SET utf8mb4;
USE etl;
CREATE TABLE src (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, note TEXT,
                  amount DECIMAL(12,2) NOT NULL);
INSERT INTO src SELECT seq, CONCAT('customer-', seq),
    IF(seq % 7 = 0, NULL, CONCAT('line one\nline two\twith a tab, a \\\\ and é ', seq)),
    seq * 1.25 FROM seq_1_to_${ROWS};
CREATE TABLE dst LIKE src;
SQL

# 3. Out with mysql -B, through the queue and the workers, back with LOAD DATA.
"$SHMQ" create "$q" --capacity $((ROWS + 16)) --slot-size 512
sql -B -N etl -e 'SELECT id, name, note, amount FROM src ORDER BY id' | "$SHMQ" push "$q"
# mysql -B writes NULL as the word NULL; LOAD DATA reads \N as NULL.
"$SHMQ" work "$q" -j 2 --batch 1000 --drain -- awk -F'\t' -v OFS='\t' '{
    $2 = toupper($2)
    $4 = sprintf("%.2f", $4 * 2)
    for (i = 1; i <= NF; i++) if ($i == "NULL") $i = "\\N"
    print
}' > "$work/out.tsv"
# The file is UTF-8 (what mysql -B wrote): say so, or LOAD DATA reads it in the database's
# character set.
sql --local-infile=1 etl -e "LOAD DATA LOCAL INFILE '$work/out.tsv' INTO TABLE dst CHARACTER SET utf8mb4"

# 4. Compare: count, and a checksum of every row against the transform done in SQL.
want=$(sql -B -N etl -e "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, UPPER(name),
    IFNULL(note, '<null>'), amount * 2))) FROM src")
got=$(sql -B -N etl -e "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, name,
    IFNULL(note, '<null>'), amount))) FROM dst")
nulls=$(sql -B -N etl -e "SELECT COUNT(*) FROM dst WHERE note IS NULL")
echo "source: $want; imported: $got; NULL notes: $nulls"
[[ $want == "$got" && $nulls == $((ROWS / 7)) ]] || { echo "MISMATCH" >&2; exit 1; }
sql -e 'SHUTDOWN' > /dev/null 2>&1 || true
wait "$server" 2> /dev/null || true
server=
echo "ok: $ROWS rows out of MariaDB, through shmq work --batch, and back, checksum-exact"
