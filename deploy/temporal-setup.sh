#!/usr/bin/env bash
# Register overdue's custom search attributes on a Temporal cluster. Idempotent: safe on
# every `docker compose up`, and on a cluster that already has them.
#
# Runs in the temporalio/admin-tools image (the `temporal-setup` service of
# docker-compose.yml), or anywhere the `temporal` CLI is on PATH:
#
#   TEMPORAL_ADDRESS=localhost:7233 bash deploy/temporal-setup.sh
#
# Environment: TEMPORAL_ADDRESS (temporal:7233), TEMPORAL_NAMESPACE (default),
# SETUP_TIMEOUT_SECONDS (180: how long to wait for the namespace to appear).
set -euo pipefail

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${SETUP_TIMEOUT_SECONDS:=180}"

# Name=Type, exactly workflows/search_attributes.py (tests/test_compose.py checks it).
SEARCH_ATTRIBUTES=(
  LoanId=Keyword
  CaseStage=Keyword
  DaysPastDue=Int
  ArrearsAmount=Double
  Bucket=Keyword
  AssignedOfficer=Keyword
  Branch=Keyword
  Product=Keyword
  OverdueSince=Int
)

# The server reports SERVING before auto-setup has registered the default namespace, and
# search attributes on SQL visibility belong to a namespace: wait until it answers.
deadline=$((SECONDS + SETUP_TIMEOUT_SECONDS))
until temporal operator search-attribute list \
    --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "temporal-setup: namespace '$TEMPORAL_NAMESPACE' at $TEMPORAL_ADDRESS not ready" \
      "after ${SETUP_TIMEOUT_SECONDS}s" >&2
    exit 1
  fi
  echo "temporal-setup: waiting for namespace '$TEMPORAL_NAMESPACE' at $TEMPORAL_ADDRESS"
  sleep 2
done

# The type NAME is registered with on the namespace ("Keyword", ...), empty if none.
registered_type() {
  temporal operator search-attribute list \
      --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
    | awk -v name="$1" '$1 == name { print $2 }'
}

for attribute in "${SEARCH_ATTRIBUTES[@]}"; do
  name=${attribute%%=*}
  type=${attribute#*=}
  current=$(registered_type "$name")
  if [[ -z $current ]]; then
    # "already exists" is fine: another run got there first. The check below decides.
    if ! output=$(temporal operator search-attribute create \
        --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
        --name "$name" --type "$type" 2>&1) && ! grep -qi "already exist" <<<"$output"; then
      echo "temporal-setup: registering $name ($type) failed: $output" >&2
      exit 1
    fi
    # The namespace cache may take a moment to show a new attribute.
    for _ in $(seq 15); do
      current=$(registered_type "$name")
      [[ -n $current ]] && break
      sleep 2
    done
  fi
  if [[ $current != "$type" ]]; then
    # Never "fix" this silently: workflows would upsert values of the wrong type.
    echo "temporal-setup: $name is registered as '${current:-nothing}', not $type" >&2
    exit 1
  fi
  echo "temporal-setup: $name ($type) ok"
done

echo "temporal-setup: ${#SEARCH_ATTRIBUTES[@]} search attributes on namespace" \
  "'$TEMPORAL_NAMESPACE' at $TEMPORAL_ADDRESS"
