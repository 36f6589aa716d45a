#!/bin/bash
# Run by LocalStack once it is ready (mounted into /etc/localstack/init/ready.d).
# Creates the team bucket; the name can be changed with TABLELOG_BUCKET.
set -euo pipefail
BUCKET="${TABLELOG_BUCKET:-tablelog-team}"
if awslocal s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  echo "bucket s3://$BUCKET already there"
else
  awslocal s3 mb "s3://$BUCKET"
fi
