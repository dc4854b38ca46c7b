# terraform test: a full plan of dev against a mocked AWS provider (no account, no network).
# It catches what validate cannot: for_each/count over values unknown until apply, argument
# checks the provider makes at plan time, module wiring. Computed values are invented by the
# mock, so nothing here says AWS would accept the plan. Needs the Lambda zips at
# var.lambda_zip_dir (tools/infra-check/check_terraform.py points it at stand-in files).
#   terraform -chdir=infra/terraform/envs/dev init -backend=false && terraform -chdir=... test

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]
      zone_ids = ["apne2-az1", "apne2-az2", "apne2-az3"]
    }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "ap-northeast-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = { random_password = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01" }
  }
}

# 123456789012 is AWS's documentation account id; the URL's host does not exist (.invalid).
variables {
  account_id                = "123456789012"
  certificate_arn           = "arn:aws:acm:ap-northeast-2:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  eks_admin_role_arns       = ["arn:aws:iam::123456789012:role/administrator"]
  stats_report_database_url = "postgres://report@db.invalid/tiketi"
}

run "plan" {
  command = plan

  assert {
    condition     = module.tiketi.name_prefix == "tiketi-dev-"
    error_message = "names must carry TIKETI_AWS_NAME_PREFIX tiketi-dev-"
  }

  assert {
    condition = toset(keys(module.tiketi.irsa_role_arns)) == toset([
      "tiketi/auth", "tiketi/ticket", "tiketi/payment", "tiketi/stats", "tiketi/realtime", "tiketi/worker",
      "keda/keda-operator", "kube-system/cluster-autoscaler", "kube-system/aws-load-balancer-controller",
      "external-secrets/external-secrets", "monitoring/loki",
    ])
    error_message = "one IRSA role per ServiceAccount of k8s/ and the add-ons"
  }

  assert {
    condition     = toset(keys(module.tiketi.queue_urls)) == toset(["worker-events", "stats-events", "payment-webhooks", "hold-expiry", "reports"])
    error_message = "the queues of shared/src/aws.rs"
  }

  assert {
    condition     = module.tiketi.loki_bucket == "tiketi-dev-loki"
    error_message = "the bucket of argocd/platform/values/dev/loki.yaml"
  }

  assert {
    condition     = toset(module.tiketi.external_secrets_secret_names) == toset(["tiketi-dev-connections", "tiketi-dev-alertmanager-receivers"])
    error_message = "the secrets the ExternalSecrets of argocd/platform reference"
  }
}
