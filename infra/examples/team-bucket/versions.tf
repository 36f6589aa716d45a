terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100.0 (the provider mirror shipped with the machine image).
      version = ">= 5.60.0, < 6.0.0"
    }
  }
}
