terraform {
  # use_lockfile (S3-native state locking) needs Terraform 1.10.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # The bucket is the one bootstrap/ made: terraform init -backend-config="bucket=<state_bucket>".
  backend "s3" {
    key          = "staging/terraform.tfstate"
    region       = "ap-northeast-2"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = "ap-northeast-2"
  # Refuse to run against any other account (a wrong profile would otherwise build staging there).
  allowed_account_ids = [var.account_id]
  default_tags {
    tags = {
      project    = "tiketi"
      managed-by = "terraform"
    }
  }
}
