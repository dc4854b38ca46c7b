variable "name" {
  type = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by e-mail)."
  type        = list(string)
  default     = []
}

variable "tags" {
  type    = map(string)
  default = {}
}
