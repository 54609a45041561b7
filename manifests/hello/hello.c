#include <stdio.h>

int main(void) {
    printf("Hello, reproducible world!\n");
    return 0;
}
