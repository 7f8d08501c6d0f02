// Both sides. The AWS Nitro Enclaves root G1: the only default trust anchor of the verifier.
// Pinned two ways: the PEM below, and the SHA-256 of its DER checked when the module loads, so an
// edit of the PEM cannot silently change what the enclave and the CLI trust.
import { createHash, X509Certificate } from 'node:crypto';

/** AWS Nitro Enclaves root G1 (CN=aws.nitro-enclaves, valid 2019-10-28 … 2049-10-28). */
export const AWS_NITRO_ROOT_G1_PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`;

/** SHA-256 of the root's DER, as AWS publishes it. */
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

const rootDer = new Uint8Array(new X509Certificate(AWS_NITRO_ROOT_G1_PEM).raw);
if (createHash('sha256').update(rootDer).digest('hex') !== AWS_NITRO_ROOT_G1_SHA256) {
  throw new Error('embedded AWS Nitro root does not match its pinned SHA-256');
}

/** DER bytes of the pinned AWS root. */
export const AWS_NITRO_ROOT_G1_DER: Uint8Array = rootDer;
