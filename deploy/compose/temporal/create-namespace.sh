#!/bin/sh
# Registers the namespace Slipway uses, once the frontend answers.
set -eu
namespace=${SLIPWAY_NAMESPACE:-default}
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS ..."
  sleep 2
done
temporal operator namespace describe --namespace "$namespace" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$namespace" --retention 30d --address "$TEMPORAL_ADDRESS"
echo "namespace $namespace is ready"
