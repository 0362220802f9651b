// Package consoletest drives the operator console (internal/console) in a
// real browser: Debian's chromium through chromedp, against the whole local
// stack (internal/dev/localstack) and its ConnectWise simulator. Its tests
// are the only code here; this file exists so the package has a name.
//
// Without chromium the tests skip with one line saying how to install it;
// with CI=true they fail instead. CONSOLE_SCREENSHOTS=<dir> writes a PNG of
// every page they visit into dir (`make screenshots` writes docs/screenshots).
package consoletest
