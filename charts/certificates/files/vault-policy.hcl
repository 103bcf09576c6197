# What the certificates operator needs of Vault (OpenBao), with the default
# mount prefix "pki-": read the mount table, create and remove its own PKI
# mounts, and use them (CA, roles, sign, revoke, CRL). Nothing else:
# no other secrets engine, no auth method, no policy, no audit device, no
# token but its own. Write it with
#   bao policy write g8s-certificates vault-policy.hcl
# and give the policy to the operator's token or kubernetes auth role.
path "sys/mounts" { capabilities = ["read"] }
path "sys/mounts/pki-*" { capabilities = ["create", "read", "update", "delete", "sudo"] }
path "pki-*" { capabilities = ["create", "read", "update", "delete", "list"] }
