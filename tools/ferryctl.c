/* ferryctl entry point (replaced by the service skeleton in this session). */
#include <stdio.h>
int main(void)
{
    puts("ferryctl " FERRY_VERSION);
    return 0;
}
